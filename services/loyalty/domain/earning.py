"""How many points an order's lines are worth, and how many a partial return takes back. Pure.

Points are computed and rounded per line, so returning a line reverses exactly what that line
earned, and returning every line reverses the whole order to the point.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from services.loyalty.domain.model import OrderLine
from services.loyalty.domain.programme import Earning


def eligible_minor_by_line(order: dict[str, Any], earning: Earning) -> dict[str, int]:
    """What the customer paid for each line's goods: tax and order discounts shared out pro rata."""
    lines = order["lines"]
    gross = sum(int(line["total_minor"]) for line in lines)
    deductions = 0
    if earning.exclude_tax:
        deductions += int(order.get("tax_minor", 0))
    if earning.exclude_discounts:
        deductions += int(order.get("discount_minor", 0))
    result: dict[str, int] = {}
    for line in lines:
        total = int(line["total_minor"])
        share = (deductions * total // gross) if gross else 0
        result[line["line_id"]] = max(0, total - share)
    return result


def line_multiplier(line: dict[str, Any], earning: Earning) -> Decimal:
    if line["sku"] in earning.excluded_skus or line["category"].lower() in earning.excluded_categories:
        return Decimal(0)
    if line["sku"] in earning.sku_multipliers:
        return earning.sku_multipliers[line["sku"]]
    return earning.category_multipliers.get(line["category"], Decimal(1))


def points_by_line(order: dict[str, Any], earning: Earning, customer_multiplier: Decimal) -> dict[str, OrderLine]:
    """Each line's points: eligible units x points per unit x product multiplier x tier/membership multiplier."""
    eligible = eligible_minor_by_line(order, earning)
    lines = {}
    for line in order["lines"]:
        units = Decimal(eligible[line["line_id"]]) / Decimal(earning.unit_minor)
        raw = units * earning.points_per_unit * line_multiplier(line, earning) * customer_multiplier
        lines[line["line_id"]] = OrderLine(
            line_id=line["line_id"],
            quantity=int(line["quantity"]),
            points=max(0, earning.round(raw)),
            eligible_minor=eligible[line["line_id"]],
            category=line["category"],
            sku=line["sku"],
        )
    return lines


def points_to_reverse(line: OrderLine, already_returned: int, returned_now: int) -> tuple[int, int]:
    """(quantity newly returned, points for it) — cumulative, so the parts of a line add up exactly."""
    quantity = max(0, min(returned_now, line.quantity - already_returned))
    if quantity == 0 or line.quantity == 0:
        return 0, 0
    before = line.points * already_returned // line.quantity
    after = line.points * (already_returned + quantity) // line.quantity
    return quantity, after - before


def capped(points: int, earned_in_periods: dict[str, int], caps: dict[str, int]) -> int:
    """Points allowed under every per-period cap, given what was already earned in each period."""
    allowed = points
    for period, maximum in caps.items():
        allowed = min(allowed, max(0, maximum - earned_in_periods.get(period, 0)))
    return max(0, allowed)
