"""Pure earning rules: how many points an order is worth. No I/O, no clock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EarnRule:
    """The first, simple programme: a recognisable amount per purchase (seed 003)."""

    version: int = 1
    #: Points per full currency unit (e.g. 1 point per euro).
    points_per_unit: int = 1
    #: Minor units per currency unit (100 for EUR); the euro cents below a full euro earn nothing.
    minor_per_unit: int = 100
    #: Shipping and tax are not what the customer bought, so they earn nothing.
    exclude_shipping: bool = True
    exclude_tax: bool = True


DEFAULT_RULE = EarnRule()


def eligible_amount_minor(order: dict[str, Any], rule: EarnRule = DEFAULT_RULE) -> int:
    amount = int(order["total_minor"])
    if rule.exclude_shipping:
        amount -= int(order.get("shipping_minor", 0))
    if rule.exclude_tax:
        amount -= int(order.get("tax_minor", 0))
    return max(0, amount)


def points_for_order(order: dict[str, Any], rule: EarnRule = DEFAULT_RULE) -> int:
    """Whole points, rounded down: 49.99 EUR at 1 point per euro earns 49."""
    return eligible_amount_minor(order, rule) // rule.minor_per_unit * rule.points_per_unit
