"""Tracking's part of the privacy API (the gateway's `/v1/customers/{id}/export` and erasure status)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from services.common.envelope import ID_PATTERN
from services.common.erasures import add_erasure_route
from services.common.service_app import Runtime
from services.tracking.adapters.privacy import export_customer

CustomerId = Annotated[str, Path(pattern=ID_PATTERN)]


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(prefix="/internal/v1/merchants/{merchant_id}", tags=["privacy"])

    @api.get("/customers/{customer_id}/privacy/export")
    async def export(merchant_id: str, customer_id: CustomerId) -> dict[str, Any]:
        """Everything tracking holds about the customer as JSON; empty sections for a customer it does not know."""
        return await export_customer(runtime.pool, merchant_id, customer_id)

    add_erasure_route(api, runtime)
    return api
