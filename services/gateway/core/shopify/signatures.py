"""Shopify's signature over the raw body, the webhook headers, and the event ids derived from deliveries.

Shopify signs every delivery with HMAC-SHA256 over the raw body (base64 in `X-Shopify-Hmac-Sha256`), keyed with
the app's client secret, or for webhooks made in the shop admin with the key shown there.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid

HMAC_HEADER = "X-Shopify-Hmac-Sha256"
TOPIC_HEADER = "X-Shopify-Topic"
WEBHOOK_ID_HEADER = "X-Shopify-Webhook-Id"
SHOP_DOMAIN_HEADER = "X-Shopify-Shop-Domain"
TEST_HEADER = "X-Shopify-Test"
#: Keys the event ids derived from deliveries (see `event_id`); fixed forever, or replays would get new ids.
_NAMESPACE = uuid.UUID("5b0e9a53-2a57-4a43-9a5e-6f1c1d0c7e21")
#: Compared against when a merchant has no secret, so an unknown merchant costs the same work as a bad signature.
_NO_SECRET = b"\x00no-secret-configured"


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(secret: str | None, body: bytes, header: str | None) -> bool:
    """Constant-time check of the raw bytes; a missing secret or header, or a header that is not base64, is False."""
    key = secret.encode() if secret else _NO_SECRET
    expected = hmac.new(key, body, hashlib.sha256).digest()
    try:
        given = base64.b64decode(header or "", validate=True)
    except (binascii.Error, ValueError):
        given = b""
    return hmac.compare_digest(expected, given) and bool(secret) and bool(header)


def event_id(merchant_id: str, event_type: str, body: bytes) -> uuid.UUID:
    """The same delivered bytes always give the same id, whatever the webhook id: a body replayed under a new
    `X-Shopify-Webhook-Id` (the header is not signed) is still a duplicate for the ingestion's dedupe."""
    return uuid.uuid5(_NAMESPACE, f"{merchant_id}\x1f{event_type}\x1f{hashlib.sha256(body).hexdigest()}")
