"""Tracking's consumer: orders, parcels and carrier scans → state, timeline, problems, events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.common.consumer import Subscription
from services.common.envelope import Envelope
from services.tracking.adapters.links import TrackingLinks
from services.tracking.adapters.store import RulesCache, TransitTimes, insert_scans, load_board, save_board
from services.tracking.domain.engine import handle
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
        # Events of one order arrive in order (shop.shipments is keyed by order), so applying them one by
        # one keeps the state machine exact; out-of-order scans are handled by event time inside it.
        for event in events:
            handle(board, event, self.rules, self.transit)
        await insert_scans(conn, [_scan_row(e) for e in events if e.type == "shipment.status_updated"])
        await save_board(conn, board)
        self.unknown_codes = [carrier for _, carrier in board.unknown_codes]
        return board.emitted


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
