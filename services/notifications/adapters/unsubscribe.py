"""Unsubscribe links (RFC 8058 one-click): signed, so nobody can unsubscribe someone else by editing a number.

They do not expire: a mail read a year later must still let its reader leave.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeSerializer


class UnsubscribeLinkInvalid(Exception):
    pass


@dataclass(frozen=True)
class UnsubscribeLinks:
    secret: str
    base_url: str

    @property
    def _serializer(self) -> URLSafeSerializer:
        return URLSafeSerializer(self.secret, salt="retention.unsubscribe.v1")

    def url_for(self, merchant_id: str, customer_id: str) -> str:
        token = self._serializer.dumps([merchant_id, customer_id])
        return f"{self.base_url.rstrip('/')}/u/{quote(token, safe='')}"

    def read(self, token: str) -> tuple[str, str]:
        try:
            merchant_id, customer_id = self._serializer.loads(token)
        except (BadSignature, ValueError, TypeError):
            raise UnsubscribeLinkInvalid from None
        return str(merchant_id), str(customer_id)
