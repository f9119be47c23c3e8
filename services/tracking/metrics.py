"""Metrics of the tracking service, declared once with an injected registry; labels stay bounded
(carrier, status, problem, reason: small enums; merchants only through the HTTP API)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Histogram

from services.common.envelope import Envelope

_PROBLEM_EVENTS = {
    "tracking.shipment_delayed": "delayed",
    "tracking.shipment_stuck": "stuck",
    "tracking.shipment_exception": "exception",
}


class TrackingMetrics(NamedTuple):
    status_changes: Counter
    problems: Counter
    deliveries: Counter
    transit_hours: Histogram
    unknown_codes: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> TrackingMetrics:
        return cls(
            status_changes=Counter(
                "retention_tracking_status_changes_total",
                "Parcel status changes after deduplication and ordering, by carrier and new status.",
                ["carrier", "to_status"],
                registry=registry,
            ),
            problems=Counter(
                "retention_tracking_problems_total",
                "Problems reported (once per parcel and reason), by carrier, problem and reason.",
                ["carrier", "problem", "reason"],
                registry=registry,
            ),
            deliveries=Counter(
                "retention_tracking_deliveries_total",
                "Delivered parcels by carrier and whether they met the promise (true, false, unknown).",
                ["carrier", "on_time"],
                registry=registry,
            ),
            transit_hours=Histogram(
                "retention_tracking_transit_hours",
                "Hours from hand-over (or first scan) to delivery, by carrier.",
                ["carrier"],
                buckets=(12, 24, 36, 48, 72, 96, 120, 168, 240, 336),
                registry=registry,
            ),
            unknown_codes=Counter(
                "retention_tracking_unknown_codes_total",
                "Carrier scans whose code no adapter maps (kept on the timeline as `unknown`), by carrier.",
                ["carrier"],
                registry=registry,
            ),
        )

    def count(self, emitted: Sequence[Envelope]) -> None:
        """Called once per committed batch with its emitted events: each fact is counted exactly once."""
        for event in emitted:
            d = event.data
            if event.type == "tracking.shipment_status_changed":
                self.status_changes.labels(d["carrier"], d["to_status"]).inc()
            elif event.type in _PROBLEM_EVENTS:
                reason = d.get("reason", "no_movement")  # a stuck parcel has only the one reason
                self.problems.labels(d["carrier"], _PROBLEM_EVENTS[event.type], reason).inc()
            elif event.type == "tracking.shipment_delivered":
                on_time = d.get("on_time")
                self.deliveries.labels(d["carrier"], "unknown" if on_time is None else str(on_time).lower()).inc()
                if d.get("transit_hours") is not None:
                    self.transit_hours.labels(d["carrier"]).observe(d["transit_hours"])
