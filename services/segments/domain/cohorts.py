"""The cohort retention matrix: of the customers who first bought in a month, the share buying again k months later.
Pure, on the same ``OrderFact`` input and definitions as ``kpis`` (counted orders are not cancelled; calendar
months in UTC).

A customer's cohort is the month of their first counted order ever, so a customer whose first order was cancelled
belongs to the month of their first order that stood. ``retained[k]`` is the share of the cohort with a counted
order in month cohort + k; it is not cumulative (a customer may be missing in month 2 and back in month 3), which is
the classic triangle merchants read: row = when they came, column = how long ago, colour = who is still buying.
``retained[0]`` is 1.0 by construction. Each row runs to `last_month`, so the matrix is a triangle, and every month
from `first_month` to `last_month` has a row, empty cohorts included (``customers=0`` and all shares 0.0), so its
shape depends only on the months asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from services.segments.domain.kpis import OrderFact, histories, month_index, month_label


@dataclass(frozen=True)
class CohortRow:
    cohort: str  # "2026-01"
    customers: int
    retained: list[float]  # [k] = share of the cohort ordering in month cohort + k, rounded to 4 decimals


def cohort_retention(
    orders: Iterable[OrderFact],
    first_month: str,
    last_month: str,
    *,
    customers: Callable[[str], bool] | None = None,
) -> list[CohortRow]:
    """One row per cohort month from `first_month` to `last_month`, over all customers or those in `customers`."""
    first, last = month_index(first_month), month_index(last_month)
    if last < first:
        raise ValueError(f"{last_month} is before {first_month}")
    sizes = [0] * (last - first + 1)
    buying = [[0] * (last - cohort + 1) for cohort in range(first, last + 1)]
    for cid, history in histories(orders, until=last).items():
        cohort = history[0][0]
        if cohort < first or (customers is not None and not customers(cid)):
            continue
        sizes[cohort - first] += 1
        row = buying[cohort - first]
        seen = -1
        for month, *_ in history:
            if month != seen:
                row[month - cohort] += 1
                seen = month
    return [
        CohortRow(month_label(first + c), size, [round(n / size, 4) if size else 0.0 for n in row])
        for c, (size, row) in enumerate(zip(sizes, buying, strict=True))
    ]
