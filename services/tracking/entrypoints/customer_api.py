"""Tracking's internal API for one customer: their parcels across orders (timelines stay per order)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from services.common.envelope import ID_PATTERN
from services.common.http import problem
from services.common.service_app import Runtime
from services.tracking.adapters.customer_reads import customer_shipments


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(prefix="/internal/v1/merchants/{merchant_id}", tags=["tracking"])

    @api.get("/customers/{customer_id}/shipments")
    async def shipments_of_customer(
        merchant_id: str,
        customer_id: Annotated[str, Path(pattern=ID_PATTERN)],
        before: Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page")] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> Any:
        """The customer's parcels, newest first: carrier, status, promise, estimate, delivery and whether on time;
        each order's scan timeline is at `/orders/{order_id}/tracking`."""
        if before is not None:
            stamp, bar, shipment = before.partition("|")
            try:
                datetime.fromisoformat(stamp)
            except ValueError:
                bar = ""
            if not bar or not shipment:
                return problem(422, "Invalid cursor", "pass `next_cursor` of the previous page unchanged",
                               errors=[{"path": "before", "message": "not a cursor of this list"}])  # fmt: skip
        items, cursor = await customer_shipments(runtime.pool, merchant_id, customer_id, before, limit)
        return {"customer_id": customer_id, "items": items, "next_cursor": cursor}

    return api
