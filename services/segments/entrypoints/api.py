"""Segments' internal HTTP API: a customer's profile."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from services.common.service_app import Runtime


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(prefix="/internal/v1/merchants/{merchant_id}", tags=["segments"])

    @api.get("/customers/{customer_id}/profile")
    async def customer_profile(merchant_id: str, customer_id: str) -> dict[str, Any]:
        """Order count, revenue, first/last order and location of one customer."""
        row = await runtime.pool.fetchrow(
            "SELECT * FROM profiles WHERE merchant_id = $1 AND customer_id = $2", merchant_id, customer_id
        )
        if row is None:
            raise HTTPException(404, "Customer not found")
        return dict(row)

    return api
