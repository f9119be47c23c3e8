"""POST /v1/events: validate against the contract, dedupe by event_id, publish before saying accepted."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.common.contract import ContractViolation
from services.common.envelope import Envelope
from services.common.errors import retry_transient
from services.common.http import field_path, problem
from services.gateway.api.deps import KEYED, RuntimeDep, problem_responses, require_scope
from services.gateway.api.routes.text_guard import MESSAGE, possibly_unstorable, printable, storable, unstorable_at
from services.gateway.metrics import GatewayMetrics

MAX_BATCH = 500
MAX_BODY_BYTES = 5 * 1024 * 1024

router = APIRouter(prefix="/v1", tags=["events"], responses=KEYED)

_EVENT_ITEM = {
    "type": "object",
    "required": ["event_id", "type", "occurred_at", "data"],
    "properties": {
        "event_id": {"type": "string", "format": "uuid", "description": "Your id; a repeat is a duplicate."},
        "type": {"type": "string", "example": "order.placed"},
        "schema_version": {"type": "integer", "default": 1},
        "occurred_at": {"type": "string", "format": "date-time"},
        "data": {"type": "object", "description": "Per type: see /asyncapi.yaml and docs/event-contract.md"},
    },
    "additionalProperties": False,
}
_ORDER_PLACED = {
    "event_id": "5b0e9c7a-3f2d-4e8a-9b1c-6d7e8f9a0b1c",
    "type": "order.placed",
    "schema_version": 1,
    "occurred_at": "2026-03-05T14:30:00+01:00",
    "data": {
        "order_id": "o-100234", "order_number": "10023451", "customer_id": "c-4711", "email": "anna.schmidt@example.de",
        "locale": "de-DE", "currency": "EUR",
        "lines": [{"line_id": "L1", "sku": "ESP-DOR-1000", "product_id": "p-espresso-dortmund",
                   "name": "Espresso Dortmunder Röstung, ganze Bohne, 1 kg", "category": "coffee", "quantity": 1,
                   "unit_price_minor": 2490, "total_minor": 2490}],
        "subtotal_minor": 2490, "shipping_minor": 495, "tax_minor": 476, "discount_minor": 0, "total_minor": 2985,
        "discount_codes": [], "channel": "web_shop", "payment_method": "paypal", "is_guest_checkout": False,
        "shipping_address": {"city": "Berlin", "postcode": "10115", "country": "DE"},
    },
}  # fmt: skip
_ORDER_PAID = {
    "event_id": "8c1f2a3b-4d5e-4f60-9a7b-8c9d0e1f2a3b",
    "type": "order.paid",
    "schema_version": 1,
    "occurred_at": "2026-03-05T14:31:12+01:00",
    "data": {"order_id": "o-100234", "customer_id": "c-4711", "amount_minor": 2985, "currency": "EUR",
             "payment_method": "paypal", "payment_reference": "PAYID-M5Q3X2A7H1234567"},
}  # fmt: skip
OPENAPI_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "examples": {
                    "batch": {"summary": "An order and its payment", "value": {"events": [_ORDER_PLACED, _ORDER_PAID]}},
                    "single": {"summary": "One event", "value": _ORDER_PAID},
                },
                "schema": {
                    "oneOf": [
                        {
                            "type": "object",
                            "required": ["events"],
                            "properties": {
                                "events": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": _EVENT_ITEM}
                            },
                        },
                        _EVENT_ITEM,
                    ]
                },
            }
        },
    }
}

RESULTS_SCHEMA = {
    "type": "object",
    "required": ["accepted", "duplicate", "rejected", "results"],
    "properties": {
        "accepted": {"type": "integer"},
        "duplicate": {"type": "integer"},
        "rejected": {"type": "integer"},
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "event_id", "status"],
                "properties": {
                    "index": {"type": "integer", "description": "The event's place in the request"},
                    "event_id": {"type": ["string", "null"]},
                    "status": {"enum": ["accepted", "duplicate", "rejected"]},
                    "errors": {"type": "array", "items": {"type": "object"}},
                },
            },
        },
    },
}


@router.post(
    "/events",
    openapi_extra=OPENAPI_BODY,
    dependencies=[],
    responses={
        200: {
            "description": "Per-item results: `accepted` (published), `duplicate` (its `event_id` was seen), "
            "`rejected` (with the field paths in `errors`)",
            "content": {
                "application/json": {
                    "schema": RESULTS_SCHEMA,
                    "example": {
                        "accepted": 1,
                        "duplicate": 1,
                        "rejected": 0,
                        "results": [
                            {"index": 0, "event_id": _ORDER_PLACED["event_id"], "status": "duplicate"},
                            {"index": 1, "event_id": _ORDER_PAID["event_id"], "status": "accepted"},
                        ],
                    },
                }
            },
        },
        413: problem_responses(413)[413],
        422: problem_responses(422)[422] | {"description": "No item is valid (or no JSON); field paths in `errors`"},
    },
)
async def ingest_events(request: Request, runtime: RuntimeDep, merchant=require_scope("events:write")) -> JSONResponse:
    """Send one event, or a batch of up to 500 as `{"events": [...]}`; the merchant comes from the key."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return problem(413, "Body too large", f"At most {MAX_BODY_BYTES} bytes per request.")
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return problem(422, "Malformed JSON", str(exc), errors=[{"path": "", "message": str(exc)}])
    single = isinstance(payload, dict) and "events" not in payload
    items = [payload] if single else payload.get("events") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not items:
        return problem(422, "Validation failed", errors=[{"path": "events", "message": "a non-empty list is required"}])
    if len(items) > MAX_BATCH:
        return problem(422, "Validation failed", errors=[{"path": "events", "message": f"at most {MAX_BATCH} events"}])

    contract = runtime.contract
    metrics: GatewayMetrics = runtime.extras["gateway_metrics"]
    results: list[dict[str, Any]] = []
    valid: list[tuple[int, Envelope]] = []
    guard = possibly_unstorable(body)  # the walk below costs ~9 % of a batch's CPU; needed only then
    for index, item in enumerate(items):
        where = "" if single else f"events[{index}]."
        if isinstance(item, dict) and "merchant_id" in item:
            errors = [{"path": f"{where}merchant_id", "message": "not allowed: the merchant is taken from the API key"}]
        elif guard and (unstorable := unstorable_at(item)) is not None:  # no service could keep it: refused first
            errors = [{"path": f"{where}{field_path(printable(unstorable))}".rstrip("."), "message": MESSAGE}]
        else:
            try:
                envelope = contract.validate(
                    {**item, "merchant_id": merchant.merchant_id} if isinstance(item, dict) else item
                )
                valid.append((index, envelope))
                results.append({"index": index, "event_id": str(envelope.event_id), "status": "pending"})
                continue
            except ContractViolation as exc:
                errors = [{"path": f"{where}{e.path}".rstrip("."), "message": e.message} for e in exc.errors]
        metrics.rejected.labels("contract").inc()
        event_id = item.get("event_id") if isinstance(item, dict) else None
        results.append(
            {
                "index": index,
                "event_id": event_id if isinstance(event_id, str) and storable(event_id) else None,
                "status": "rejected",
                "errors": errors,
            }
        )

    if not valid:
        all_errors = [e for r in results for e in r.get("errors", [])]
        return problem(422, "Validation failed", "No event in the request is valid.", errors=all_errors)

    accepted_ids = await retry_transient(
        lambda: _publish_new(runtime, merchant.merchant_id, valid), name="ingest_publish"
    )
    first_seen: set[Any] = set()
    for index, envelope in valid:
        fresh = envelope.event_id in accepted_ids and envelope.event_id not in first_seen
        first_seen.add(envelope.event_id)
        status = "accepted" if fresh else "duplicate"
        results[index]["status"] = status
        if status == "accepted":
            metrics.accepted.labels(envelope.type).inc()
    summary = {s: sum(1 for r in results if r["status"] == s) for s in ("accepted", "duplicate", "rejected")}
    return JSONResponse({**summary, "results": results})


async def _publish_new(runtime: Any, merchant_id: str, valid: list[tuple[int, Envelope]]) -> set[Any]:
    """Record ids and publish in one transaction: commit only after the broker acknowledged.

    A concurrent request with the same id waits on the row lock and then sees a duplicate; a crash
    after publishing but before commit republishes on retry, which consumers dedupe by event_id.
    """
    contract = runtime.contract
    async with runtime.pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "INSERT INTO ingested_events (merchant_id, event_id) SELECT $1, unnest($2::uuid[]) "
            "ON CONFLICT DO NOTHING RETURNING event_id",
            merchant_id,
            [e.event_id for _, e in valid],
        )
        new_ids = {r["event_id"] for r in rows}
        futures, seen = [], set()
        for _, envelope in valid:
            if envelope.event_id in new_ids and envelope.event_id not in seen:
                seen.add(envelope.event_id)
                futures.append(
                    await runtime.producer.send(
                        contract.topic_for(envelope.type).name,
                        envelope.to_bytes(),
                        key=contract.partition_key(envelope),
                    )
                )
        await asyncio.gather(*futures)
    return new_ids
