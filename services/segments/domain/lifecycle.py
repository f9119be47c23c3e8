"""The lifecycle phase of a customer, from their orders and cart, with `now` passed in. Pure.

prospect → cart → first-time buyer → repeat → loyal, and, when the next order is overdue, at risk → lapsed;
an order after at risk or lapsed is "won back" until the customer's rhythm is re-established. "Overdue" is
measured against the customer's own rhythm (mean days between orders) where there is one: a coffee subscriber
ordering every 3 weeks is at risk long before someone who buys shoes twice a year.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

PHASES = ("prospect", "cart", "first_time_buyer", "repeat", "loyal", "at_risk", "lapsed", "won_back")


@dataclass(frozen=True)
class LifecycleRules:
    #: Orders from which a customer counts as loyal.
    loyal_orders: int = 4
    #: Without a rhythm yet (one order): at risk after this many days, lapsed after the second number.
    at_risk_days: int = 90
    lapsed_days: int = 180
    #: With a rhythm: at risk after this many of their usual gaps, lapsed after the second.
    at_risk_gaps: float = 2.0
    lapsed_gaps: float = 4.0
    #: An order after at risk / lapsed: "won back" for this many days.
    won_back_days: int = 60


def phase(
    order_count: int,
    last_order_at: datetime | None,
    mean_days_between_orders: float | None,
    now: datetime,
    *,
    open_cart: bool = False,
    previous_gap_days: float | None = None,
    rules: LifecycleRules = LifecycleRules(),
) -> str:
    """`previous_gap_days`: days between the last two orders, to see a customer won back by their last order."""
    if order_count == 0 or last_order_at is None:
        return "cart" if open_cart else "prospect"
    since = (now - last_order_at).total_seconds() / 86_400
    at_risk, lapsed = _thresholds(mean_days_between_orders, rules)
    if since >= lapsed:
        return "lapsed"
    if since >= at_risk:
        return "at_risk"
    if previous_gap_days is not None and previous_gap_days >= at_risk and since < rules.won_back_days:
        return "won_back"
    if order_count >= rules.loyal_orders:
        return "loyal"
    return "repeat" if order_count >= 2 else "first_time_buyer"


def _thresholds(mean_gap: float | None, rules: LifecycleRules) -> tuple[float, float]:
    if not mean_gap:
        return rules.at_risk_days, rules.lapsed_days
    # Never sooner than a month, never later than the fixed limits: a daily buyer is not lapsed after a week.
    at_risk = min(max(mean_gap * rules.at_risk_gaps, 30), rules.lapsed_days)
    lapsed = min(max(mean_gap * rules.lapsed_gaps, at_risk + 30), rules.lapsed_days * 2)
    return at_risk, lapsed
