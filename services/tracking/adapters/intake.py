"""Carrier payloads in: normalised scans become canonical `shipment.status_updated` events on shop.shipments.

They go through tracking's outbox, so the consumer applies them exactly like scans a shop sends (inbox
deduplication, ordering per order, one state machine). The event id is derived from the scan's natural key,
so a carrier that retries its webhook produces the same event, which the outbox and the inbox keep once.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from services.common.contract import Contract
from services.common.envelope import Envelope, new_envelope
from services.common.outbox import write_outbox
from services.tracking.domain.carriers import CarrierScan

_NAMESPACE = uuid.UUID("0f2b8c3e-5d1a-4e7b-9c6d-2a4f8e1b3c5d")


def scan_event(merchant_id: str, carrier: str, shipment: asyncpg.Record, scan: CarrierScan) -> Envelope:
    data: dict[str, Any] = {
        "shipment_id": shipment["shipment_id"],
        "order_id": shipment["order_id"],
        "carrier": carrier,
        "tracking_number": scan.tracking_number,
        "status": scan.status,
        "raw_status_code": scan.raw_status_code,
        "scanned_at": scan.scanned_at.isoformat(),
    }
    if shipment["customer_id"]:
        data["customer_id"] = shipment["customer_id"]
    if scan.exception_reason:
        data["exception_reason"] = scan.exception_reason
    if scan.description:
        data["description"] = scan.description[:500]
    if scan.location and scan.location.get("city") and scan.location.get("country"):
        data["location"] = scan.location
    if scan.estimated_delivery_date:
        data["estimated_delivery_date"] = scan.estimated_delivery_date.isoformat()
    key = "\x1f".join([merchant_id, carrier, scan.tracking_number, scan.raw_status_code, scan.scanned_at.isoformat()])
    return new_envelope(
        "shipment.status_updated",
        merchant_id,
        data,
        occurred_at=scan.scanned_at,
        event_id=uuid.uuid5(_NAMESPACE, key),
    )


async def accept_scans(
    pool: asyncpg.Pool, contract: Contract, merchant_id: str, carrier: str, scans: list[CarrierScan]
) -> dict[str, Any]:
    """Stage the scans of known parcels; report the tracking numbers tracking has no shipment for."""
    numbers = sorted({s.tracking_number for s in scans})
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT DISTINCT ON (tracking_number) tracking_number, shipment_id, order_id, customer_id FROM shipments "
            "WHERE merchant_id = $1 AND carrier = $2 AND tracking_number = ANY($3::text[]) "
            "ORDER BY tracking_number, created_at DESC",
            merchant_id,
            carrier,
            numbers,
        )
        shipments = {r["tracking_number"]: r for r in rows}
        events = [
            scan_event(merchant_id, carrier, shipments[s.tracking_number], s)
            for s in scans
            if s.tracking_number in shipments
        ]
        await write_outbox(conn, contract, events)
    return {
        "accepted": len(events),
        "unknown_codes": sum(1 for s in scans if s.status == "unknown"),
        "unmatched_tracking_numbers": [n for n in numbers if n not in shipments],
    }
