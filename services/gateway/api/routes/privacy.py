"""Privacy through the merchant API (GDPR): export everything held about a customer (Art. 15 access, Art. 20
portability), erase the customer in every service (Art. 17), and follow the erasure until each service confirmed it.

The export asks every service at once and is all or nothing: a service that is down makes it a 503, never a partial
document. The erasure is a `customer.erasure_requested` event published like `/v1/events` publishes (recorded, acked
by the broker with acks=all, then answered); every service applies it from its own consumer and records, in the same
transaction, that it did. The status resource asks each service for that record.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Body, HTTPException, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.common.envelope import ID_PATTERN
from services.common.erasures import ERASURE
from services.common.errors import retry_transient
from services.gateway.adapters import erasures
from services.gateway.adapters.services import ServiceClient
from services.gateway.api.deps import FORWARDED, WITH_BODY, RuntimeDep, problem_responses, require_scope
from services.gateway.api.forward import merchant_path
from services.gateway.api.quotas import quota
from services.gateway.api.routes.events import _publish_new
from services.gateway.api.routes.text_guard import STORABLE_BODY
from services.gateway.metrics import GatewayMetrics

router = APIRouter(prefix="/v1", tags=["privacy"], responses=FORWARDED, dependencies=[STORABLE_BODY])
CustomerId = Annotated[str, Path(pattern=ID_PATTERN, description="The shop's customer id")]

EXPORT_EXAMPLE = {
    "customer_id": "c-4711",
    "exported_at": "2026-03-05T14:30:00Z",
    "services": {
        "loyalty": {
            "account": {"customer_id": "c-4711", "available": 149, "pending": 0, "tier": "silver",
                        "state": {"birthday": "1988-06-23", "signed_up_at": "2025-03-14T09:15:00+00:00"}},
            "ledger": [{"kind": "earn", "points": 49, "reason_code": "purchase", "order_id": "o-100234",
                        "occurred_at": "2025-03-14T09:21:07Z"}],
            "orders": [{"order_id": "o-100234", "state": {"order_number": "10023451", "earn_points": 49}}],
            "codes": [],
            "erasures": [],
        },
        "notifications": {
            "contact": {"email": "anna.schmidt@example.de", "first_name": "Anna", "last_name": "Schmidt",
                        "locale": "de-DE", "marketing_consent": True, "consent_source": "double_opt_in"},
            "notifications": [{"template": "order_received", "status": "sent", "context": {"order_number": "10023451"},
                               "sent_at": "2025-03-14T09:21:09Z"}],
            "orders": [{"order_id": "o-100234", "order_number": "10023451", "categories": ["coffee"]}],
            "erasures": [],
        },
        "segments": {
            "profile": {"doc": {"person": {"email": "anna.schmidt@example.de", "first_name": "Anna"},
                                "city": "Berlin", "postcode": "10115", "country": "DE", "review_count": 1},
                        "memberships": {"active-coffee": "2025-03-14T09:21:07+00:00"}, "erased": False},
            "orders": [{"order_id": "o-100234", "total_minor": 4975, "currency": "EUR", "categories": ["coffee"]}],
            "prediction": None,
            "audience_exports": [],
            "erasures": [],
        },
        "tracking": {
            "orders": [{"order_id": "o-100234", "state": {"postcode": "10115", "country": "DE"}}],
            "shipments": [{"shipment_id": "s-55001", "order_id": "o-100234", "state": {
                "carrier": "dhl", "tracking_number": "00340434161094042557", "status": "delivered"}}],
            "scans": [{"shipment_id": "s-55001", "status": "delivered", "location": {"city": "Berlin", "country": "DE"},
                       "scanned_at": "2025-03-17T11:02:10Z"}],
            "problems": [],
            "erasures": [],
        },
    },
}  # fmt: skip
STATUS_EXAMPLE = {
    "request_id": "7c1e2f4a-9b3d-4e5f-8a6b-1c2d3e4f5a6b",
    "customer_id": "c-4711",
    "requested_by": "customer",
    "requested_at": "2026-03-05T14:30:00Z",
    "status": "pending",
    "completed_at": None,
    "services": {
        "loyalty": {"erased_at": "2026-03-05T14:30:01.204Z"},
        "notifications": {"erased_at": "2026-03-05T14:30:00.871Z"},
        "segments": None,
        "tracking": {"erased_at": "2026-03-05T14:30:01.002Z"},
    },
}


class CustomerExport(BaseModel):
    """Everything the platform holds about one customer, one section per service."""

    model_config = ConfigDict(json_schema_extra={"example": EXPORT_EXAMPLE})
    customer_id: str
    exported_at: datetime
    services: dict[str, dict[str, Any]] = Field(
        description="Per service (loyalty, notifications, segments, tracking) what it holds, as it holds it; empty "
        "sections where it knows nothing of the customer"
    )


class ErasureCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"requested_by": "customer"}})
    requested_by: Literal["customer", "merchant", "authority"] = Field(
        "customer", description="Who asked for the erasure (for the audit trail)"
    )


class ErasureAccepted(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "request_id": STATUS_EXAMPLE["request_id"],
                "customer_id": "c-4711",
                "status": "pending",
                "requested_at": "2026-03-05T14:30:00Z",
                "status_url": f"/v1/privacy/erasures/{STATUS_EXAMPLE['request_id']}",
            }
        }
    )
    request_id: uuid.UUID
    customer_id: str
    status: Literal["pending"]
    requested_at: datetime
    status_url: str = Field(description="The status resource (also in `Location`)")


class Confirmation(BaseModel):
    erased_at: datetime = Field(description="When the service applied the erasure")


class ErasureStatus(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": STATUS_EXAMPLE})
    request_id: uuid.UUID
    customer_id: str
    requested_by: str
    requested_at: datetime
    status: Literal["pending", "complete"] = Field(
        description="`complete` once every service confirmed; from then on no service returns the customer's "
        "personal data and no later audience export contains them"
    )
    completed_at: datetime | None = Field(description="The last service's confirmation; null while pending")
    services: dict[str, Confirmation | None] = Field(description="Per service its confirmation, null while pending")


def completion(confirmations: Mapping[str, Mapping[str, Any] | None]) -> datetime | None:
    """When the erasure was complete: the last confirmation once every service has one; None while any is missing."""
    if not confirmations or any(c is None for c in confirmations.values()):
        return None
    return max(datetime.fromisoformat(c["erased_at"]) for c in confirmations.values() if c is not None)


@router.get(
    "/customers/{customer_id}/export",
    summary="Export a customer's data",
    response_model=CustomerExport,
)
async def export_customer(
    customer_id: CustomerId, runtime: RuntimeDep, merchant=require_scope("privacy:read"), _quota=quota("exports")
) -> dict[str, Any]:
    """Everything every service holds about the customer as one JSON document (GDPR Art. 15 and 20). All or nothing:
    a service that is unavailable makes it a 503, never a partial export. A customer nobody knows gives empty
    sections."""
    services: ServiceClient = runtime.extras["services"]
    path = merchant_path(merchant, f"/customers/{quote(customer_id, safe='')}/privacy/export")
    sections = await _each_service(services, lambda name: _export_of(services, name, path))
    return {"customer_id": customer_id, "exported_at": datetime.now(UTC), "services": sections}


@router.post(
    "/customers/{customer_id}/erasure",
    status_code=202,
    summary="Erase a customer everywhere",
    response_model=ErasureAccepted,
    responses={
        202: {"headers": {"Location": {"schema": {"type": "string"}, "description": "The status resource"}}},
        **WITH_BODY,
    },
)
async def request_erasure(
    customer_id: CustomerId,
    runtime: RuntimeDep,
    body: Annotated[
        ErasureCreate | None,
        Body(
            openapi_examples={
                "customer": {"summary": "The customer asked (Art. 17)", "value": {"requested_by": "customer"}},
                "authority": {
                    "summary": "A data protection authority ordered it",
                    "value": {"requested_by": "authority"},
                },
            }
        ),
    ] = None,
    merchant=require_scope("privacy:write"),
) -> JSONResponse:
    """Erase the customer in every service (GDPR Art. 17). Answered once the request is safely on Kafka; the
    services apply it within seconds. Follow `status_url` until it says `complete`. Services keep pseudonymous
    figures (points ledger, order counts, delivery times) under the customer id, without personal data."""
    body = body or ErasureCreate()
    request_id, requested_at = uuid.uuid4(), datetime.now(UTC)
    event = runtime.contract.validate(
        {
            "event_id": str(uuid.uuid4()),
            "type": ERASURE,
            "schema_version": 1,
            "merchant_id": merchant.merchant_id,
            "occurred_at": requested_at.isoformat(),
            "data": {"customer_id": customer_id, "request_id": str(request_id), "requested_by": body.requested_by},
        }
    )
    # Published first, recorded second: a status can never point at an erasure that was not sent. Should the record
    # fail, the erasure still happens and a retry simply erases again (every service applies it idempotently).
    await retry_transient(lambda: _publish_new(runtime, merchant.merchant_id, [(0, event)]), name="erasure_publish")
    metrics: GatewayMetrics = runtime.extras["gateway_metrics"]
    metrics.accepted.labels(ERASURE).inc()
    await retry_transient(
        lambda: erasures.record_request(
            runtime.pool, merchant.merchant_id, request_id, customer_id, body.requested_by, event.event_id, requested_at
        ),
        name="erasure_record",
    )
    status_url = f"/v1/privacy/erasures/{request_id}"
    answer = {"request_id": str(request_id), "customer_id": customer_id, "status": "pending",
              "requested_at": requested_at.isoformat(), "status_url": status_url}  # fmt: skip
    return JSONResponse(answer, status_code=202, headers={"Location": status_url})


@router.get(
    "/privacy/erasures/{request_id}",
    summary="Erasure status",
    response_model=ErasureStatus,
    responses=problem_responses(404),
)
async def erasure_status(
    request_id: Annotated[uuid.UUID, Path(description="`request_id` from the erasure request")],
    runtime: RuntimeDep,
    merchant=require_scope("privacy:write"),
) -> dict[str, Any]:
    """`pending` until every service confirmed it applied the erasure, then `complete` for good. 404 for an
    unknown request or another merchant's."""
    found = await erasures.find_request(runtime.pool, merchant.merchant_id, request_id)
    if found is None:
        raise HTTPException(404, "Unknown erasure request")
    confirmations, completed_at = found["confirmations"], found["completed_at"]
    if completed_at is None:
        services: ServiceClient = runtime.extras["services"]
        path = merchant_path(merchant, f"/privacy/erasures/{request_id}")
        confirmations = await _each_service(services, lambda name: _confirmation_of(services, name, path))
        completed_at = completion(confirmations)
        if completed_at is not None:
            await erasures.mark_complete(runtime.pool, merchant.merchant_id, request_id, confirmations, completed_at)
    return {
        "request_id": found["request_id"],
        "customer_id": found["customer_id"],
        "requested_by": found["requested_by"],
        "requested_at": found["requested_at"],
        "status": "pending" if completed_at is None else "complete",
        "completed_at": completed_at,
        "services": confirmations,
    }


async def _each_service(services: ServiceClient, call: Callable[[str], Awaitable[Any]]) -> dict[str, Any]:
    """Every service at once, by name; the first failure (a 503 problem) is the answer, nothing partial."""
    names = sorted(services.urls)
    results = await asyncio.gather(*(call(name) for name in names), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return dict(zip(names, results, strict=True))


async def _export_of(services: ServiceClient, name: str, path: str) -> dict[str, Any]:
    try:
        return await services.get(name, path)
    except HTTPException as exc:
        if exc.status_code == 404:  # a service without the export (an older version): not a customer's absence
            raise HTTPException(503, f"The {name} service cannot export yet; try again shortly") from exc
        raise


async def _confirmation_of(services: ServiceClient, name: str, path: str) -> dict[str, str] | None:
    try:
        found = await services.get(name, path)
    except HTTPException as exc:
        if exc.status_code == 404:
            return None
        raise
    return {"erased_at": found["erased_at"]}
