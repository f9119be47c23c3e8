"""Public tracking links: signed, unguessable and expiring, so a customer can open their order's page without
an account and nobody can walk through other orders by changing a number."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import quote

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


class LinkInvalid(Exception):
    """Forged, mangled or for another purpose: answered like an unknown page (404)."""


class LinkExpired(Exception):
    """Genuine but older than the links' lifetime (410)."""


@dataclass(frozen=True)
class TrackingLinks:
    secret: str
    base_url: str
    max_age_days: int = 120
    #: Signing costs more than the rest of a notification; a link minted in the last hour is as good as new.
    _minted: dict[tuple[str, str], tuple[float, str]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def _serializer(self) -> URLSafeTimedSerializer:
        # The salt keeps these tokens from being valid anywhere else the same secret signs something.
        return URLSafeTimedSerializer(self.secret, salt="retention.tracking-page.v1")

    def token(self, merchant_id: str, order_id: str) -> str:
        return self._serializer.dumps([merchant_id, order_id])

    def url_for(self, merchant_id: str, order_id: str) -> str:
        key, now = (merchant_id, order_id), time.monotonic()
        cached = self._minted.get(key)
        if cached is not None and now - cached[0] < 3600:
            return cached[1]
        if len(self._minted) > 50_000:
            self._minted.clear()
        url = f"{self.base_url.rstrip('/')}/t/{quote(self.token(merchant_id, order_id), safe='')}"
        self._minted[key] = (now, url)
        return url

    def read(self, token: str) -> tuple[str, str]:
        try:
            merchant_id, order_id = self._serializer.loads(token, max_age=self.max_age_days * 86_400)
        except SignatureExpired:
            raise LinkExpired from None
        except (BadSignature, ValueError, TypeError):
            raise LinkInvalid from None
        return str(merchant_id), str(order_id)
