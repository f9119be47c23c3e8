"""Tracking's internal HTTP API: shipments of an order with their timelines."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from services.common.service_app import Runtime


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(prefix="/internal/v1/merchants/{merchant_id}", tags=["tracking"])

    @api.get("/orders/{order_id}/tracking")
    async def order_tracking(merchant_id: str, order_id: str) -> dict[str, Any]:
        """Current state and scan timeline of every shipment of an order."""
        shipments = await runtime.pool.fetch(
            "SELECT shipment_id, carrier, tracking_number, promised_date, status, status_at FROM shipments "
            "WHERE merchant_id = $1 AND order_id = $2 ORDER BY created_at",
            merchant_id,
            order_id,
        )
        if not shipments:
            raise HTTPException(404, "No shipments for this order")
        result = []
        for shipment in shipments:
            scans = await runtime.pool.fetch(
                "SELECT status, raw_status_code, location, scanned_at FROM scans "
                "WHERE merchant_id = $1 AND shipment_id = $2 ORDER BY scanned_at",
                merchant_id,
                shipment["shipment_id"],
            )
            result.append({**dict(shipment), "timeline": [dict(s) for s in scans]})
        return {"order_id": order_id, "shipments": result}

    return api
