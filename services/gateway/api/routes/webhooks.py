"""Shopify webhooks: `POST /v1/webhooks/shopify/{merchant_id}` (signed by Shopify), `PUT .../secret` (API key).

Shopify cannot send an API key, so the merchant named in the path is trusted only once the body's HMAC verifies
with that merchant's secret; every failure before that is the same 401. Verified deliveries are deduplicated by
`X-Shopify-Webhook-Id`, mapped by `core.shopify` and published through the ingestion's own path (`_publish_new`:
dedupe by event id, publish with acks=all, then answer). Refunds and fulfillments name only their order: when the
order's customer is not known yet, the delivery is parked and published as soon as an order webhook tells it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import quote

import asyncpg
from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.common.contract import Contract, ContractViolation
from services.common.envelope import ID_PATTERN, Envelope
from services.common.errors import retry_transient
from services.common.http import field_path, problem
from services.common.logs import log_context
from services.gateway.api.deps import RATE_LIMITED, RuntimeDep, problem_responses, require_scope, throttle
from services.gateway.api.routes.events import MAX_BODY_BYTES, _publish_new
from services.gateway.api.routes.text_guard import MESSAGE, STORABLE_BODY, printable, unstorable_at
from services.gateway.core import shopify
from services.gateway.core.shopify import Context, Mapped, OrderLink, Unmappable

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/webhooks/shopify", tags=["webhooks"], responses=RATE_LIMITED)
LOCALE_PATTERN = r"^[a-z]{2,3}(-[A-Z]{2})?$"


def _unauthorized() -> JSONResponse:
    # One answer for a bad or missing signature, an unknown merchant and a merchant without a secret.
    return problem(401, "Invalid webhook signature", "The signature does not match this body for this merchant.")


class ShopifySecretUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"secret": "shpss_0123456789abcdef0123456789abcdef", "default_locale": "de"}},
    )
    secret: str = Field(
        min_length=16,
        max_length=512,
        description="The app's client secret (custom app), or the signing key the shop admin shows under "
        "Settings → Notifications → Webhooks. Stored, never returned.",
        examples=["shpss_0123456789abcdef0123456789abcdef"],
    )
    default_locale: str = Field(
        "de", pattern=LOCALE_PATTERN, description="Language for customer events (Shopify's customers carry none)."
    )


class ShopifyWebhookConfig(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "merchant_id": "kaffeeroesterei-dortmund",
                "webhook_url": "https://api.retention.example/v1/webhooks/shopify/kaffeeroesterei-dortmund",
                "secret_fingerprint": "0da686610b0d",
                "default_locale": "de",
                "topics": ["orders/create", "orders/paid", "orders/cancelled", "refunds/create", "fulfillments/create",
                           "fulfillments/update", "customers/create", "customers/update", "checkouts/update"],
                "updated_at": "2026-03-05T14:30:00Z",
            }
        }
    )  # fmt: skip
    merchant_id: str
    webhook_url: str = Field(description="Enter this URL in Shopify for every topic below.")
    secret_fingerprint: str = Field(description="First 12 hex digits of SHA-256 of the secret: to compare, not use.")
    default_locale: str
    topics: list[str]
    updated_at: datetime


@router.put("/secret", responses=problem_responses(400, 401, 403, 422), dependencies=[STORABLE_BODY])
async def put_shopify_secret(
    body: ShopifySecretUpdate, runtime: RuntimeDep, merchant=require_scope("config:write")
) -> ShopifyWebhookConfig:
    """Set (or rotate) the secret Shopify signs this merchant's webhooks with; answers the URL to give Shopify."""
    updated_at = await runtime.pool.fetchval(
        "INSERT INTO webhook_secrets (merchant_id, provider, secret, default_locale) VALUES ($1, 'shopify', $2, $3) "
        "ON CONFLICT (merchant_id, provider) DO UPDATE SET secret = EXCLUDED.secret, "
        "default_locale = EXCLUDED.default_locale, updated_at = now() RETURNING updated_at",
        merchant.merchant_id,
        body.secret,
        body.default_locale,
    )
    return ShopifyWebhookConfig(
        merchant_id=merchant.merchant_id,
        webhook_url=f"{runtime.settings.public_base_url.rstrip('/')}{router.prefix}/{quote(merchant.merchant_id)}",
        secret_fingerprint=hashlib.sha256(body.secret.encode()).hexdigest()[:12],
        default_locale=body.default_locale,
        topics=list(shopify.MAPPERS),
        updated_at=updated_at,
    )


@dataclass(frozen=True)
class Delivery:
    merchant_id: str
    webhook_id: str
    topic: str
    shop_domain: str | None
    body: bytes
    received_at: datetime
    default_locale: str


class _Rejected(Exception):
    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors


def _header(name: str, description: str, example: str) -> Any:
    return Header(alias=name, description=description, examples=[example])


@router.post(
    "/{merchant_id}",
    summary="Receive a Shopify webhook",
    description=(
        "Give Shopify this URL (with your merchant id) for the topics `orders/create`, `orders/paid`, "
        "`orders/cancelled`, `refunds/create`, `fulfillments/create`, `fulfillments/update`, `customers/create`, "
        "`customers/update`, `checkouts/update` (JSON format). Each delivery is verified with HMAC-SHA256 over the "
        "raw body against the secret set with `PUT /v1/webhooks/shopify/secret`, deduplicated by "
        "`X-Shopify-Webhook-Id`, mapped to contract events (order.placed, order.paid, order.cancelled, "
        "order.refunded, shipment.created, shipment.status_updated, customer.created, customer.updated, "
        "cart.updated) and published before the answer. Any 2xx tells Shopify to stop retrying."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The payload exactly as Shopify sent it (the signature covers these bytes).",
            "content": {
                "application/json": {
                    "schema": {"type": "object"},
                    "example": {"id": 5820948211, "name": "#1042", "currency": "EUR", "line_items": []},
                }
            },
        }
    },
    responses={
        200: {
            "description": "Taken: `accepted` (published), `duplicate` (this webhook id, or these events, were "
            "seen), `ignored` (nothing to publish; `detail` says why), `parked` (published once the order's "
            "customer is known from an orders/* webhook).",
            "content": {
                "application/json": {
                    "examples": {
                        "accepted": {
                            "value": {
                                "status": "accepted",
                                "webhook_id": "b54557e4-8a5f-4bf7-9d70-bcd043a1e2f3",
                                "topic": "orders/create",
                                "event_ids": ["0b6f7d0e-3a5e-5c1b-9d0e-2f8b7c6a5d41"],
                            }
                        },
                        "duplicate": {
                            "value": {
                                "status": "duplicate",
                                "webhook_id": "b54557e4-8a5f-4bf7-9d70-bcd043a1e2f3",
                                "topic": "orders/create",
                                "event_ids": ["0b6f7d0e-3a5e-5c1b-9d0e-2f8b7c6a5d41"],
                                "detail": "first received as accepted",
                            }
                        },
                        "ignored": {
                            "value": {
                                "status": "ignored",
                                "webhook_id": "3f1c2b7a-0d9e-4c8b-a1f2-6e5d4c3b2a19",
                                "topic": "checkouts/update",
                                "event_ids": [],
                                "detail": "the checkout is completed: orders/create reports the order",
                            }
                        },
                    }
                }
            },
        },
        401: {
            "description": "Missing or wrong signature, unknown merchant, or no secret set: always this answer.",
            "content": {
                "application/problem+json": {
                    "example": {"type": "about:blank", "title": "Invalid webhook signature", "status": 401}
                }
            },
        },
        413: {"description": "Body larger than 5 MiB"},
        422: {
            "description": "Verified, but not a payload the topic's mapping or the event contract accepts; "
            "`errors[].path` names the field. Shopify retries it.",
            "content": {
                "application/problem+json": {
                    "example": {
                        "type": "about:blank",
                        "title": "Validation failed",
                        "status": 422,
                        "errors": [{"path": "currency", "message": "'EURO' is not an ISO 4217 currency code"}],
                    }
                }
            },
        },
    },
)
async def receive_shopify_webhook(
    merchant_id: Annotated[str, Path(description="Your merchant id: trusted only once the signature verifies")],
    request: Request,
    runtime: RuntimeDep,
    signature: Annotated[
        str | None, _header(shopify.HMAC_HEADER, "Base64 HMAC-SHA256 of the raw body", "XWmrwMey6OsLMeiZKwP4Fpp=")
    ] = None,
    topic: Annotated[str | None, _header(shopify.TOPIC_HEADER, "The webhook topic", "orders/create")] = None,
    webhook_id: Annotated[
        str | None, _header(shopify.WEBHOOK_ID_HEADER, "Delivery id, the same on retries", "b54557e4-8a5f")
    ] = None,
    shop_domain: Annotated[
        str | None, _header(shopify.SHOP_DOMAIN_HEADER, "The shop, recorded with the delivery", "x.myshopify.com")
    ] = None,
    test: Annotated[str | None, _header(shopify.TEST_HEADER, "`true` for admin test notifications", "false")] = None,
) -> JSONResponse:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return problem(413, "Body too large", f"At most {MAX_BODY_BYTES} bytes per request.")
    config = await _config(runtime.pool, merchant_id) if re.fullmatch(ID_PATTERN, merchant_id) else None
    if not shopify.verify(config["secret"] if config else None, body, signature):
        runtime.extras["gateway_metrics"].rejected.labels("webhook_signature").inc()
        return _unauthorized()
    assert config is not None
    received_at = datetime.now(UTC)
    throttle(runtime.extras["key_limits"], f"webhook:{merchant_id}", received_at)
    log_context.set({**log_context.get({}), "merchant_id": merchant_id})
    missing = [
        {"path": name, "message": "header is required (at most 255 characters)"}
        for name, value in ((shopify.TOPIC_HEADER, topic), (shopify.WEBHOOK_ID_HEADER, webhook_id))
        if not value or len(value) > 255
    ]
    if missing:
        return problem(422, "Validation failed", "Shopify sends these headers with every webhook.", errors=missing)
    assert topic is not None and webhook_id is not None
    delivery = Delivery(
        merchant_id, webhook_id, topic, (shop_domain or "")[:255] or None, body, received_at, config["default_locale"]
    )
    try:
        answer = await retry_transient(
            lambda: _process(runtime, delivery, test=(test or "").lower() == "true"), name="shopify_webhook"
        )
    except _Rejected as exc:
        runtime.extras["gateway_metrics"].rejected.labels("webhook_contract").inc()
        log.warning("shopify webhook not mappable", extra={"topic": topic, "webhook_id": webhook_id})
        return problem(422, "Validation failed", f"The {topic} payload cannot be mapped.", errors=exc.errors)
    return JSONResponse({"webhook_id": webhook_id, "topic": topic, **answer})


async def _config(pool: asyncpg.Pool, merchant_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT secret, default_locale FROM webhook_secrets WHERE merchant_id = $1 AND provider = 'shopify'",
        merchant_id,
    )


async def _process(runtime: Any, d: Delivery, *, test: bool) -> dict[str, Any]:
    pool = runtime.pool
    seen = await pool.fetchrow(
        "SELECT status, event_ids FROM processed_webhooks WHERE merchant_id = $1 AND webhook_id = $2",
        d.merchant_id,
        d.webhook_id,
    )
    if seen is not None:
        ids = [str(i) for i in seen["event_ids"]]
        return {"status": "duplicate", "event_ids": ids, "detail": f"first received as {seen['status']}"}
    if test:
        return await _record(pool, d, "ignored", detail="a test notification from the Shopify admin: verified")
    try:
        payload = json.loads(d.body, parse_float=Decimal)  # exact amounts, also where Shopify sends numbers
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _Rejected([{"path": "", "message": f"malformed JSON: {exc}"}]) from None
    if not isinstance(payload, dict):
        raise _Rejected([{"path": "", "message": "a webhook payload must be a JSON object"}])
    if (unstorable := unstorable_at(payload)) is not None:  # no service could keep it (see text_guard)
        raise _Rejected([{"path": field_path(printable(unstorable)), "message": MESSAGE}])
    order_id = shopify.order_referenced(d.topic, payload)
    ctx = Context(d.received_at, d.default_locale, await _order_link(pool, d.merchant_id, order_id))
    try:
        outcome = shopify.translate(d.topic, payload, ctx)
        envelopes = [_envelope(runtime.contract, d.merchant_id, d.body, m) for m in outcome.events]
    except Unmappable as exc:
        raise _Rejected([{"path": exc.path, "message": exc.message}]) from None
    except ContractViolation as exc:
        raise _Rejected([{"path": e.path, "message": e.message} for e in exc.errors]) from None
    if outcome.link is not None:
        await _remember_order(pool, d.merchant_id, outcome.link)
    if outcome.waits_for_order:
        detail = f"waits for an orders/* webhook of order {outcome.waits_for_order}"
        answer = await _record(pool, d, "parked", detail=detail, order_id=outcome.waits_for_order, body=d.body)
        # Park, then look again: an order webhook that committed meanwhile released nothing for this one.
        released = await _release(runtime, d.merchant_id, outcome.waits_for_order, d.default_locale)
        return released.get(d.webhook_id, answer)
    status = await _publish(runtime, d.merchant_id, envelopes) if envelopes else "ignored"
    answer = await _record(pool, d, status, detail=outcome.ignored, envelopes=envelopes)
    if outcome.link is not None:  # the order's customer is known now: what waited for it goes out
        await _release(runtime, d.merchant_id, outcome.link.order_id, d.default_locale)
    return answer


def _envelope(contract: Contract, merchant_id: str, body: bytes, mapped: Mapped) -> Envelope:
    return contract.validate(
        {
            "event_id": str(shopify.event_id(merchant_id, mapped.type, body)),
            "type": mapped.type,
            "schema_version": 1,
            "merchant_id": merchant_id,
            "occurred_at": mapped.occurred_at.isoformat(),
            "data": mapped.data,
        }
    )


async def _publish(runtime: Any, merchant_id: str, envelopes: list[Envelope]) -> str:
    """The ingestion's own path; `duplicate` when every event was published before (by any delivery)."""
    new_ids = await _publish_new(runtime, merchant_id, list(enumerate(envelopes)))
    for envelope in envelopes:
        if envelope.event_id in new_ids:
            runtime.extras["gateway_metrics"].accepted.labels(envelope.type).inc()
    return "accepted" if new_ids else "duplicate"


async def _record(
    pool: asyncpg.Pool,
    d: Delivery,
    status: str,
    *,
    detail: str | None = None,
    envelopes: Sequence[Envelope] = (),
    order_id: str | None = None,
    body: bytes | None = None,
) -> dict[str, Any]:
    ids = [e.event_id for e in envelopes]
    await pool.execute(
        "INSERT INTO processed_webhooks (merchant_id, webhook_id, topic, shop_domain, status, detail, event_ids, "
        "order_id, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        d.merchant_id,
        d.webhook_id,
        d.topic,
        d.shop_domain,
        status,
        detail,
        ids,
        order_id,
        body,
    )
    return {"status": status, "event_ids": [str(i) for i in ids], **({"detail": detail} if detail else {})}


async def _order_link(pool: asyncpg.Pool, merchant_id: str, order_id: str | None) -> OrderLink | None:
    if order_id is None:
        return None
    row = await pool.fetchrow(
        "SELECT customer_id, currency FROM shopify_orders WHERE merchant_id = $1 AND order_id = $2",
        merchant_id,
        order_id,
    )
    return OrderLink(order_id, row["customer_id"], row["currency"]) if row else None


async def _remember_order(pool: asyncpg.Pool, merchant_id: str, link: OrderLink) -> None:
    await pool.execute(
        "INSERT INTO shopify_orders (merchant_id, order_id, customer_id, currency) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (merchant_id, order_id) DO UPDATE SET customer_id = EXCLUDED.customer_id, "
        "currency = COALESCE(EXCLUDED.currency, shopify_orders.currency), updated_at = now()",
        merchant_id,
        link.order_id,
        link.customer_id,
        link.currency,
    )


async def _release(runtime: Any, merchant_id: str, order_id: str, default_locale: str) -> dict[str, dict[str, Any]]:
    """Publish the deliveries parked for this order; safe to run twice at once (event ids are deterministic)."""
    pool = runtime.pool
    link = await _order_link(pool, merchant_id, order_id)
    if link is None:
        return {}
    parked = await pool.fetch(
        "SELECT webhook_id, topic, body, received_at FROM processed_webhooks "
        "WHERE merchant_id = $1 AND order_id = $2 AND status = 'parked' ORDER BY received_at",
        merchant_id,
        order_id,
    )
    answers: dict[str, dict[str, Any]] = {}
    for row in parked:
        status, detail, envelopes = "ignored", None, []
        try:
            payload = json.loads(row["body"], parse_float=Decimal)
            outcome = shopify.translate(row["topic"], payload, Context(row["received_at"], default_locale, link))
            envelopes = [_envelope(runtime.contract, merchant_id, row["body"], m) for m in outcome.events]
            detail = outcome.ignored
        except (Unmappable, ContractViolation, json.JSONDecodeError) as exc:
            status, detail = "failed", str(exc)[:1000]
            runtime.extras["gateway_metrics"].rejected.labels("webhook_contract").inc()
            log.warning("parked shopify webhook not mappable", extra={"webhook_id": row["webhook_id"]})
        if envelopes:
            status = await _publish(runtime, merchant_id, envelopes)
        ids = [e.event_id for e in envelopes]
        await pool.execute(
            "UPDATE processed_webhooks SET status = $3, detail = $4, event_ids = $5, "
            "body = CASE WHEN $3 = 'failed' THEN body END "
            "WHERE merchant_id = $1 AND webhook_id = $2 AND status = 'parked'",
            merchant_id,
            row["webhook_id"],
            status,
            detail,
            ids,
        )
        answers[row["webhook_id"]] = {"status": status, "event_ids": [str(i) for i in ids]} | (
            {"detail": detail} if detail else {}
        )
    return answers
