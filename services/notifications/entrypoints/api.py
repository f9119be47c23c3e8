"""Notifications' internal HTTP API: the message log of a customer, for the gateway."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.common.service_app import Runtime


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(prefix="/internal/v1/merchants/{merchant_id}", tags=["notifications"])

    @api.get("/customers/{customer_id}/messages")
    async def customer_messages(merchant_id: str, customer_id: str) -> dict[str, Any]:
        """Notifications for one customer, newest first, with status and reason."""
        rows = await runtime.pool.fetch(
            "SELECT notification_id, template, status, status_reason, created_at, sent_at FROM notifications "
            "WHERE merchant_id = $1 AND customer_id = $2 ORDER BY created_at DESC LIMIT 100",
            merchant_id,
            customer_id,
        )
        return {"customer_id": customer_id, "messages": [dict(r) for r in rows]}

    return api
