"""Loyalty's internal HTTP API, called by the gateway with the merchant taken from the API key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from services.common.service_app import Runtime
from services.loyalty.adapters.ledger import customer_summary, recent_entries


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(prefix="/internal/v1/merchants/{merchant_id}", tags=["loyalty"])

    @api.get("/customers/{customer_id}/loyalty")
    async def customer_loyalty(merchant_id: str, customer_id: str) -> dict[str, Any]:
        """Balance and latest ledger entries of one customer."""
        summary = await customer_summary(runtime.pool, merchant_id, customer_id)
        if summary is None:
            raise HTTPException(404, "Customer has no loyalty activity")
        history = await recent_entries(runtime.pool, merchant_id, customer_id)
        return {
            "customer_id": customer_id,
            "balance": summary["balance"],
            "lifetime_earned": summary["lifetime_earned"],
            "last_activity_at": summary["last_activity_at"],
            "history": history,
        }

    return api
