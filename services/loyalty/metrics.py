"""Metrics of the loyalty service, declared once with an injected registry."""

from __future__ import annotations

from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter


class LoyaltyMetrics(NamedTuple):
    points_awarded: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> LoyaltyMetrics:
        return cls(
            points_awarded=Counter(
                "retention_loyalty_points_awarded_total",
                "Points written to the ledger, by entry kind.",
                ["kind"],
                registry=registry,
            )
        )
