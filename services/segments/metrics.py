"""Metrics of the segments service, declared once with an injected registry.

Labels stay bounded: segment transitions and triggers carry no segment id (merchants create segments freely);
KPI gauges carry the merchant, the KPI name (a fixed list) and the sales channel (a fixed enum, or `all`).
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.common.envelope import Envelope


class SegmentsMetrics(NamedTuple):
    transitions: Counter
    triggers: Counter
    reevaluation_seconds: Histogram
    reevaluated: Counter
    kpi: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> SegmentsMetrics:
        return cls(
            transitions=Counter(
                "retention_segments_transitions_total",
                "Segment memberships entered and exited, by direction and cause.",
                ["direction", "cause"],
                registry=registry,
            ),
            triggers=Counter(
                "retention_segments_triggers_total",
                "Triggers fired (win_back, birthday, tenure, cross_sell, vip_promotion, campaign).",
                ["trigger"],
                registry=registry,
            ),
            reevaluation_seconds=Histogram(
                "retention_segments_reevaluation_seconds",
                "Duration of one merchant's scheduled or definition-driven re-evaluation of all customers.",
                buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600),
                registry=registry,
            ),
            reevaluated=Counter(
                "retention_segments_reevaluated_customers_total",
                "Customers reassessed by scheduled or definition-driven re-evaluations.",
                registry=registry,
            ),
            kpi=Gauge(
                "retention_segments_kpi",
                "The merchant's KPIs for the current month (rates 0-1, money in minor units, days), by channel.",
                ["merchant_id", "kpi", "channel"],
                registry=registry,
            ),
        )

    def count(self, emitted: Sequence[Envelope]) -> None:
        """Called once per committed batch or job run, so every transition is counted exactly once (tallied first:
        a label lookup per event was a measurable share of a busy worker)."""
        transitions: collections.Counter[tuple[str, str]] = collections.Counter()
        triggers: collections.Counter[str] = collections.Counter()
        for event in emitted:
            if event.type == "segment.entered":
                transitions["entered", event.data["cause"]] += 1
            elif event.type == "segment.exited":
                transitions["exited", event.data["cause"]] += 1
            elif event.type == "segments.triggered":
                triggers[event.data["trigger"]] += 1
        for (direction, cause), n in transitions.items():
            self.transitions.labels(direction, cause).inc(n)
        for trigger, n in triggers.items():
            self.triggers.labels(trigger).inc(n)
