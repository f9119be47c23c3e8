"""A customer's parcels across orders, newest first (the gateway's `/v1/customers/{id}/shipments`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg


async def customer_shipments(
    pool: asyncpg.Pool, merchant_id: str, customer_id: str, before: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """One page by (created_at, shipment_id) descending; the cursor is the last row's `created_at|shipment_id`."""
    created, _, shipment = (before or "").partition("|")
    rows = await pool.fetch(
        "SELECT shipment_id, order_id, carrier, status, status_at, promised_date, estimated_date, delivered_at, "
        "on_time, direction, created_at FROM shipments WHERE merchant_id = $1 AND customer_id = $2 "
        "AND ($3::timestamptz IS NULL OR (created_at, shipment_id) < ($3::timestamptz, $4)) "
        "ORDER BY created_at DESC, shipment_id DESC LIMIT $5",
        merchant_id,
        customer_id,
        datetime.fromisoformat(created) if created else None,
        shipment,
        limit + 1,
    )
    items = [dict(r) for r in rows[:limit]]
    more = len(rows) > limit
    cursor = f"{items[-1]['created_at'].isoformat()}|{items[-1]['shipment_id']}" if more else None
    return items, cursor
