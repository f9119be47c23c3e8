"""Metrics of the loyalty service, declared once with an injected registry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter

from services.common.envelope import Envelope

#: Emitted event type → (metric, label) of the points it moved.
_POINT_EVENTS = {
    "loyalty.points_pending": "pending",
    "loyalty.points_confirmed": "confirmed",
    "loyalty.points_earned": "bonus",
    "loyalty.points_reversed": "reversed",
    "loyalty.points_redeemed": "redeemed",
    "loyalty.points_expired": "expired",
}


class LoyaltyMetrics(NamedTuple):
    points: Counter
    tier_changes: Counter
    redemptions: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> LoyaltyMetrics:
        return cls(
            points=Counter(
                "retention_loyalty_points_total",
                "Points moved by the ledger, by movement (pending, confirmed, bonus, reversed, redeemed, expired).",
                ["movement"],
                registry=registry,
            ),
            tier_changes=Counter(
                "retention_loyalty_tier_changes_total",
                "Tier changes, by direction (initial, upgrade, downgrade).",
                ["direction"],
                registry=registry,
            ),
            redemptions=Counter(
                "retention_loyalty_redemptions_total",
                "Rewards redeemed and points payments, by kind.",
                ["kind"],
                registry=registry,
            ),
        )

    def count(self, emitted: Sequence[Envelope]) -> None:
        """Called once per committed batch, so every movement is counted exactly once."""
        for event in emitted:
            if (movement := _POINT_EVENTS.get(event.type)) is not None:
                self.points.labels(movement).inc(event.data["points"])
            elif event.type == "loyalty.tier_changed":
                self.tier_changes.labels(event.data["direction"]).inc()
            elif event.type == "loyalty.reward_redeemed":
                self.redemptions.labels(event.data["reward_type"]).inc()
