"""Tracking's consumer: shipments and carrier scans → state, timeline, status-change events."""

from __future__ import annotations

from datetime import date, datetime

import asyncpg

from services.common.consumer import Subscription
from services.common.envelope import Envelope, derived_event_id, new_envelope
from services.tracking.domain.shipments import next_status

SHIPMENT_TYPES = frozenset({"shipment.created", "shipment.status_updated"})


async def handle_shipments(conn: asyncpg.Connection, events: list[Envelope]) -> list[Envelope]:
    emitted: list[Envelope] = []
    # Events of one order arrive in order (the key is merchant:order), so applying them one by one
    # inside the batch's transaction keeps the state machine exact.
    for event in events:
        d = event.data
        if event.type == "shipment.created":
            await conn.execute(
                "INSERT INTO shipments (merchant_id, shipment_id, order_id, customer_id, carrier, tracking_number, "
                "promised_date) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (merchant_id, shipment_id) DO UPDATE "
                "SET customer_id = EXCLUDED.customer_id, tracking_number = EXCLUDED.tracking_number, "
                "promised_date = EXCLUDED.promised_date",
                event.merchant_id,
                d["shipment_id"],
                d["order_id"],
                d.get("customer_id"),
                d["carrier"],
                d.get("tracking_number"),
                _date(d.get("promised_delivery_date")),
            )
            continue
        scanned_at = datetime.fromisoformat(d["scanned_at"])
        await conn.execute(
            "INSERT INTO scans (merchant_id, shipment_id, event_id, status, raw_status_code, location, scanned_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            event.merchant_id,
            d["shipment_id"],
            event.event_id,
            d["status"],
            d.get("raw_status_code"),
            d.get("location"),
            scanned_at,
        )
        row = await conn.fetchrow(
            "SELECT status, status_at, customer_id, tracking_number FROM shipments "
            "WHERE merchant_id = $1 AND shipment_id = $2 FOR UPDATE",
            event.merchant_id,
            d["shipment_id"],
        )
        if row is None:  # a scan before shipment.created: remember the shipment from the scan itself
            await conn.execute(
                "INSERT INTO shipments (merchant_id, shipment_id, order_id, carrier) VALUES ($1, $2, $3, $4)",
                event.merchant_id,
                d["shipment_id"],
                d["order_id"],
                d["carrier"],
            )
            current, current_at, customer_id, tracking_number = None, None, None, None
        else:
            current, current_at = row["status"], row["status_at"]
            customer_id, tracking_number = row["customer_id"], row["tracking_number"]
        transition = next_status(current, current_at, d["status"], scanned_at)
        if transition is None:
            continue
        await conn.execute(
            "UPDATE shipments SET status = $3, status_at = $4 WHERE merchant_id = $1 AND shipment_id = $2",
            event.merchant_id,
            d["shipment_id"],
            transition.to_status,
            scanned_at,
        )
        data = {
            "shipment_id": d["shipment_id"],
            "order_id": d["order_id"],
            "carrier": d["carrier"],
            "from_status": transition.from_status,
            "to_status": transition.to_status,
            "scanned_at": scanned_at.isoformat(),
        }
        if customer_id:
            data["customer_id"] = customer_id
        if tracking_number:
            data["tracking_number"] = tracking_number
        emitted.append(
            new_envelope(
                "tracking.shipment_status_changed",
                event.merchant_id,
                data,
                occurred_at=scanned_at,
                event_id=derived_event_id(event.event_id, "tracking.status_changed"),
            )
        )
    return emitted


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def subscriptions() -> list[Subscription]:
    return [Subscription("tracking.shipments", ("shop.shipments",), handle_shipments, SHIPMENT_TYPES)]
