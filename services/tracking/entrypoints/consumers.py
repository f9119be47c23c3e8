"""Tracking's consumer: orders, parcels and carrier scans → state, timeline, problems, events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.common.consumer import Subscription
from services.common.envelope import Envelope
from services.common.erasures import erased_customers
from services.tracking.adapters.links import TrackingLinks
from services.tracking.adapters.store import RulesCache, TransitTimes, insert_scans, load_board, save_board
from services.tracking.domain.engine import Board, handle
from services.tracking.metrics import TrackingMetrics

EVENT_TYPES = frozenset({"order.placed", "shipment.created", "shipment.status_updated"})


class ShipmentConsumer:
    """One per process: keeps the rules and learned transit times between batches."""

    def __init__(
        self, metrics: TrackingMetrics, transit: TransitTimes | None = None, links: TrackingLinks | None = None
    ) -> None:
        self.metrics = metrics
        self.links = links
        self.rules = RulesCache()
        self.transit = transit or TransitTimes()
        #: Carriers of the unknown codes of the batch being applied; counted once it commits.
        self.unknown_codes: list[str] = []

    def committed(self, emitted: Sequence[Envelope]) -> None:
        self.metrics.count(emitted)
        for carrier in self.unknown_codes:
            self.metrics.unknown_codes.labels(carrier).inc()
        self.unknown_codes = []

    async def __call__(self, conn: asyncpg.Connection, events: list[Envelope]) -> list[Envelope]:
        self.unknown_codes = []  # a retried batch starts over
        merchants = {e.merchant_id for e in events}
        await self.rules.load(conn, merchants)
        await self.transit.refresh(conn, merchants)
        shipments = {(e.merchant_id, e.data["shipment_id"]) for e in events if "shipment_id" in e.data}
        orders = {(e.merchant_id, e.data["order_id"]) for e in events}
        board = await load_board(conn, shipments, orders)
        board.link_for = self.links.url_for if self.links else None
        events = await _tombstoned(conn, events, board)
        # Events of one order arrive in order (shop.shipments is keyed by order), so applying them one by
        # one keeps the state machine exact; out-of-order scans are handled by event time inside it.
        for event in events:
            handle(board, event, self.rules, self.transit)
        await insert_scans(conn, [_scan_row(e) for e in events if e.type == "shipment.status_updated"])
        await save_board(conn, board)
        self.unknown_codes = [carrier for _, carrier in board.unknown_codes]
        return board.emitted


async def _tombstoned(conn: asyncpg.Connection, events: list[Envelope], board: Board) -> list[Envelope]:
    """The batch without personal data for customers erased here: an event published before the erasure but applied
    after it (shop.orders and shop.shipments are other topics than the erasure's) must not bring the postcode, the
    tracking number or a scan's place back. One query for the batch."""
    customers = _customers(events, board)
    erased = await erased_customers(conn, (key for key in customers if key[1] is not None))
    if not erased:
        return events
    return [_without_person(e) if key in erased else e for e, key in zip(events, customers, strict=True)]


def _customers(events: list[Envelope], board: Board) -> list[tuple[str, str | None]]:
    """Each event's (merchant, customer): named in it, else the one of its parcel (stored, or announced earlier in the
    batch); a scan of a parcel nobody announced yet has none."""
    parcels = {key: s.customer_id for key, s in board.shipments.items()}
    found = []
    for e in events:
        parcel = (e.merchant_id, e.data["shipment_id"]) if "shipment_id" in e.data else None
        customer_id = e.data.get("customer_id") or parcels.get(parcel)
        if parcel is not None and customer_id:
            parcels[parcel] = customer_id
        found.append((e.merchant_id, customer_id))
    return found


def _without_person(event: Envelope) -> Envelope:
    """What erasure leaves (adapters/privacy.py): a destination's and a scan's country, no postcode, city, tracking
    number or carrier link."""
    data: dict[str, Any] = dict(event.data)
    for name in ("shipping_address", "destination", "location"):
        if isinstance(data.get(name), dict):
            country = data[name].get("country")
            if country:
                data[name] = {"country": country}
            else:
                del data[name]
    data.pop("tracking_url", None)
    if "tracking_number" in data:  # kept as a key: shipment.created's handler reads it as required
        data["tracking_number"] = None
    return event.model_copy(update={"data": data})


def _scan_row(event: Envelope) -> tuple[object, ...]:
    d = event.data
    return (
        event.merchant_id,
        d["shipment_id"],
        event.event_id,
        d["status"],
        d.get("raw_status_code"),
        d.get("location"),
        datetime.fromisoformat(d["scanned_at"]),
    )


def subscriptions(consumer: ShipmentConsumer) -> list[Subscription]:
    return [
        Subscription(
            "tracking.shipments",
            ("shop.shipments", "shop.orders"),
            consumer,
            EVENT_TYPES,
            on_committed=consumer.committed,
        )
    ]
