"""Pure profile folding: an order updates a customer's counts and value."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime


@dataclass(frozen=True)
class Profile:
    order_count: int = 0
    revenue_minor: int = 0
    currency: str | None = None
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None

    @property
    def average_order_value_minor(self) -> int:
        return self.revenue_minor // self.order_count if self.order_count else 0


def apply_order(profile: Profile, total_minor: int, currency: str, placed_at: datetime) -> Profile:
    return replace(
        profile,
        order_count=profile.order_count + 1,
        revenue_minor=profile.revenue_minor + total_minor,
        currency=profile.currency or currency,
        first_order_at=min(filter(None, (profile.first_order_at, placed_at))),
        last_order_at=max(filter(None, (profile.last_order_at, placed_at))),
    )
