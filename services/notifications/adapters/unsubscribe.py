"""Signed links in mails, so nobody can act for someone else by editing an id.

- Unsubscribe (RFC 8058 one-click): never expires; a mail read a year later must still let its reader leave.
- Double opt-in confirmation: valid for 30 days, and only for the sign-up it was sent for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer


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


#: How long a confirmation link works; a customer who waits longer signs up again.
OPT_IN_VALID_S = 30 * 24 * 3600


@dataclass(frozen=True)
class OptInLinks:
    secret: str
    base_url: str

    @property
    def _serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret, salt="retention.opt-in.v1")

    def url_for(self, merchant_id: str, customer_id: str, asked_at: str) -> str:
        token = self._serializer.dumps([merchant_id, customer_id, asked_at])
        return f"{self.base_url.rstrip('/')}/c/{quote(token, safe='')}"

    def read(self, token: str) -> tuple[str, str, datetime]:
        try:
            merchant_id, customer_id, asked_at = self._serializer.loads(token, max_age=OPT_IN_VALID_S)
            return str(merchant_id), str(customer_id), datetime.fromisoformat(asked_at)
        except (BadSignature, ValueError, TypeError):  # SignatureExpired is a BadSignature
            raise UnsubscribeLinkInvalid from None
