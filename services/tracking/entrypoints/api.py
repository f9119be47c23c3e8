"""Tracking's internal HTTP API (called by the gateway): order tracking, delivery performance, rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Query
from fastapi.responses import JSONResponse

from services.common.envelope import ID_PATTERN
from services.common.http import problem
from services.common.service_app import Runtime
from services.tracking.adapters import intake, reads
from services.tracking.domain.carriers import CARRIERS, CarrierPayloadError, parse_payload
from services.tracking.domain.promise import DeliveryRules

OrderId = Annotated[str, Path(pattern=ID_PATTERN)]
Carrier = Annotated[str, Path(pattern=f"^({'|'.join(CARRIERS)})$", description="dhl, dpd, gls, hermes or ups")]


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(prefix="/internal/v1/merchants/{merchant_id}", tags=["tracking"])

    @api.get("/orders/{order_id}/tracking")
    async def order_tracking(merchant_id: str, order_id: OrderId) -> dict[str, Any]:
        """Every parcel of an order: state, promise, estimate, open problems and the scan timeline."""
        result = await reads.order_tracking(runtime.pool, merchant_id, order_id)
        if result is None:
            raise HTTPException(404, "No shipments for this order")
        return result

    @api.get("/tracking/performance")
    async def delivery_performance(
        merchant_id: str,
        since: Annotated[datetime | None, Query(description="Start (inclusive); default 30 days ago.")] = None,
        until: Annotated[datetime | None, Query(description="End (exclusive); default now.")] = None,
    ) -> dict[str, Any]:
        """On-time rate, transit-time percentiles and problem counts by carrier and reason."""
        until = until or datetime.now(UTC)
        since = since or until - timedelta(days=30)
        if since.tzinfo is None or until.tzinfo is None:
            raise HTTPException(422, "since and until need a timezone offset")
        if since >= until:
            raise HTTPException(422, "since must be before until")
        return await reads.performance(runtime.pool, merchant_id, since, until)

    @api.get("/tracking/rules")
    async def get_rules(merchant_id: str) -> dict[str, Any]:
        """The merchant's delivery rules (defaults until saved)."""
        version, rules = await reads.rules_of(runtime.pool, merchant_id)
        return {"version": version, "rules": rules.model_dump(mode="json")}

    @api.put("/tracking/rules")
    async def put_rules(merchant_id: str, rules: DeliveryRules) -> dict[str, Any]:
        """Replace the delivery rules; they apply to promises and checks from the next event on."""
        version = await reads.save_rules(runtime.pool, merchant_id, rules)
        return {"version": version, "rules": rules.model_dump(mode="json")}

    @api.post("/carriers/{carrier}/scans", status_code=202, response_model=None)
    async def carrier_scans(
        merchant_id: str, carrier: Carrier, payload: Annotated[dict[str, Any], Body()]
    ) -> dict[str, Any] | JSONResponse:
        """A carrier's tracking payload (webhook or API answer, as the carrier documents it): every scan is
        normalised (raw code kept; unknown codes become `unknown`, never dropped) and applied through the stream."""
        try:
            scans = parse_payload(carrier, payload)
        except CarrierPayloadError as exc:
            errors = [{"path": exc.path, "message": exc.message}]
            return problem(422, "Unreadable carrier payload", f"Not a {carrier} tracking payload.", errors=errors)
        return await intake.accept_scans(runtime.pool, runtime.contract, merchant_id, carrier, scans)

    return api
