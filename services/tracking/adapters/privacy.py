"""Tracking's side of GDPR: everything it holds about a customer (Art. 15/20), and erasing them (Art. 17).

Tracking knows a customer through their orders and parcels. Erasure keeps those as pseudonymous delivery statistics
(carrier, destination country, status, times, on-time, problems: the learned transit times and the delivery
performance stay whole) and removes what leads to the person: the postcode, the tracking number and carrier link
(the carrier's page shows where the parcel went), and the place of every scan but its country (the last one is the
customer's door). A parcel still on its way is no longer matched by carrier payloads, which name its tracking number.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from services.common.erasures import erasures_of_customer

_CUSTOMER_ORDERS = (
    "SELECT order_id FROM orders WHERE merchant_id = $1 AND state->>'customer_id' = $2 "
    "UNION SELECT order_id FROM shipments WHERE merchant_id = $1 AND customer_id = $2"
)


async def export_customer(pool: asyncpg.Pool, merchant_id: str, customer_id: str) -> dict[str, Any]:
    """The customer's orders as tracking knows them, their parcels (state, promise, estimate, problems), every scan,
    the problems raised and cleared, and the erasures applied. Empty sections for an unknown customer."""
    async with pool.acquire() as conn:
        order_ids = [r["order_id"] for r in await conn.fetch(_CUSTOMER_ORDERS, merchant_id, customer_id)]
        orders = await conn.fetch(
            "SELECT order_id, state, delivered_at FROM orders WHERE merchant_id = $1 AND order_id = ANY($2::text[]) "
            "AND state <> '{}'::jsonb ORDER BY order_id",
            merchant_id,
            order_ids,
        )
        shipments = await conn.fetch(
            "SELECT shipment_id, order_id, state, created_at FROM shipments "
            "WHERE merchant_id = $1 AND (customer_id = $2 OR order_id = ANY($3::text[])) "
            "ORDER BY created_at, shipment_id",
            merchant_id,
            customer_id,
            order_ids,
        )
        shipment_ids = [r["shipment_id"] for r in shipments]
        scans = await conn.fetch(
            "SELECT shipment_id, status, raw_status_code, location, scanned_at FROM scans "
            "WHERE merchant_id = $1 AND shipment_id = ANY($2::text[]) ORDER BY scanned_at, event_id",
            merchant_id,
            shipment_ids,
        )
        problems = await conn.fetch(
            "SELECT shipment_id, carrier, problem, reason, raised, at FROM problem_log "
            "WHERE merchant_id = $1 AND shipment_id = ANY($2::text[]) ORDER BY at, id",
            merchant_id,
            shipment_ids,
        )
    return {
        "orders": [dict(r) for r in orders],
        "shipments": [dict(r) for r in shipments],
        "scans": [dict(r) for r in scans],
        "problems": [dict(r) for r in problems],
        "erasures": await erasures_of_customer(pool, merchant_id, customer_id),
    }


async def erase_customer(conn: asyncpg.Connection, merchant_id: str, customer_id: str) -> None:
    """In the caller's transaction. Rows are locked orders first, then parcels, each in key order, as the shipment
    consumer and the scheduled checks lock them, so the three queue instead of deadlocking."""
    order_ids = sorted(r["order_id"] for r in await conn.fetch(_CUSTOMER_ORDERS, merchant_id, customer_id))
    if not order_ids:
        return
    await conn.execute(
        "SELECT 1 FROM orders WHERE merchant_id = $1 AND order_id = ANY($2::text[]) ORDER BY order_id FOR UPDATE",
        merchant_id,
        order_ids,
    )
    shipment_ids = [
        r["shipment_id"]
        for r in await conn.fetch(
            "SELECT shipment_id FROM shipments WHERE merchant_id = $1 "
            "AND (customer_id = $2 OR order_id = ANY($3::text[])) ORDER BY shipment_id FOR UPDATE",
            merchant_id,
            customer_id,
            order_ids,
        )
    ]
    # An order row may still be the empty placeholder the shipment consumer creates: it stays empty.
    await conn.execute(
        "UPDATE orders SET state = jsonb_set(state, '{postcode}', 'null') "
        "WHERE merchant_id = $1 AND order_id = ANY($2::text[]) AND state ? 'postcode'",
        merchant_id,
        order_ids,
    )
    await conn.execute(
        "UPDATE shipments SET tracking_number = NULL, state = CASE WHEN state = '{}'::jsonb THEN state "
        "ELSE state || jsonb_build_object('postcode', NULL, 'tracking_number', NULL, 'tracking_url', NULL) END "
        "WHERE merchant_id = $1 AND shipment_id = ANY($2::text[])",
        merchant_id,
        shipment_ids,
    )
    await conn.execute(
        "UPDATE scans SET location = CASE WHEN location ? 'country' "
        "THEN jsonb_build_object('country', location->'country') END "
        "WHERE merchant_id = $1 AND shipment_id = ANY($2::text[]) AND location IS NOT NULL",
        merchant_id,
        shipment_ids,
    )
