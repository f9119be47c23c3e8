"""Merchant KPIs per calendar month, for all customers or a group of them (a segment, a first-order channel, a
first-order cohort). Pure: the caller passes the orders and the months; nothing here reads a clock or a store.

The definitions are the usual e-commerce ones, made precise so that a number on the dashboard can be recomputed by
hand from the order history:

* Months are calendar months in UTC, written ``"2026-03"``. The *window* of month M is the 12 months ending with M
  (M-11 … M). Repeat rate, purchase frequency and churn look at a window rather than at M alone because online shops
  sell on yearly rhythms (Christmas, summer, back to school): a one-month repeat rate is mostly noise and swings
  with the season, while a 12-month window contains every season exactly once.
* Counted orders: not cancelled. ``net_minor`` is the order total minus refunds, so a partial refund lowers revenue
  but the order still counts as an order (the customer did buy again); a cancelled order counts for nothing.
* A customer is *active* in a window when they placed a counted order in it. A non-subscription shop never hears
  that a customer left, so churn is the standard non-contractual one: a customer is lost when 12 months pass
  without an order. ``churn_rate`` (M) = customers active in the window of M-1 but not in the window of M (their
  last order was in M-12 and nothing since) / customers active in the window of M-1. That is a monthly flow rate
  ("of the customers we had at the start of M, the share we lost during M"), comparable from month to month, and
  a customer who comes back later does not rewrite the past months' numbers.
* Customer groups (``customers=``) select customers, never single orders: a group's numbers are made of all the
  counted orders of its members. A customer's channel is the channel of their first counted order and their
  cohort is its month, so "revenue of channel amazon" means revenue from customers acquired through Amazon,
  wherever they bought later. Groups partition the customers, so their customer counts, orders and revenue add
  up to the overall numbers.

Fields of ``MonthKpis`` for month M (a ratio with nothing to divide by is ``None``, not 0, so "no data" never
shows as "0 %"):

* ``customers``: distinct customers with a counted order in M; ``orders``: counted orders in M;
  ``revenue_minor``: sum of their ``net_minor``.
* ``average_order_value_minor``: revenue in M / orders in M.
* ``repeat_customer_rate``: of the customers active in the window of M, the share with ≥ 2 counted orders in it.
* ``purchase_frequency_12m``: counted orders in the window of M / customers active in it.
* ``historical_clv_minor``: net revenue of all counted orders up to the end of M / customers with ≥ 1 counted
  order up to the end of M (average revenue per customer to date, not a prediction).
* ``churn_rate``: as above.
* ``mean_days_between_orders``: mean elapsed time, in days of 86,400 s, between a customer's consecutive counted
  orders, over the gaps whose later order is in M (the same measure as the lifecycle's rhythm). Gaps are summed
  as whole microseconds, so the result does not depend on the order of the input.

Money is rounded to whole minor units half to even (banker's rounding, no upward drift when summed over months);
every other ratio is rounded to 4 decimals. Work is one pass over the orders plus a sort of each customer's own
orders, then per customer a few passes over their orders into per-month arrays: linear in the number of orders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate

#: Sales channels of the order contract (``order.placed.v1``); anything else is grouped under ``other``.
CHANNELS = ("web_shop", "amazon", "ebay", "social", "phone", "point_of_sale")
OTHER_CHANNEL = "other"
#: ``by_cohort`` key for customers whose first order is before the first month asked for.
EARLIER_COHORTS = "earlier"
WINDOW_MONTHS = 12

_US = timedelta(microseconds=1)
_DAY_US = 86_400_000_000


@dataclass(frozen=True)
class OrderFact:
    """One order, as it stands now. One fact per order_id: the caller folds replayed events, refunds and the
    cancellation into it (two facts with the same order_id would count as two orders)."""

    customer_id: str
    order_id: str
    placed_at: datetime  # tz-aware; read as UTC
    net_minor: int  # total minus refunds, >= 0
    channel: str
    cancelled: bool


@dataclass(frozen=True)
class MonthKpis:
    month: str
    customers: int
    orders: int
    revenue_minor: int
    average_order_value_minor: int | None
    repeat_customer_rate: float | None
    purchase_frequency_12m: float | None
    historical_clv_minor: int | None
    churn_rate: float | None
    mean_days_between_orders: float | None


#: One counted order of a customer: (month index, placed_at in UTC, order_id, net_minor, channel).
Order = tuple[int, datetime, str, int, str]


def month_index(month: str) -> int:
    """``"2026-03"`` → months since year 0, so that consecutive months are consecutive integers."""
    if len(month) != 7 or month[4] != "-" or not (month[:4].isdigit() and month[5:].isdigit()):
        raise ValueError(f"month must look like 2026-03, not {month!r}")
    number = int(month[5:])
    if not 1 <= number <= 12:
        raise ValueError(f"no month {month!r}")
    return int(month[:4]) * 12 + number - 1


def month_label(index: int) -> str:
    year, number = divmod(index, 12)
    return f"{year:04d}-{number + 1:02d}"


def histories(orders: Iterable[OrderFact], *, until: int | None = None) -> dict[str, list[Order]]:
    """Every customer's counted orders, oldest first (ties by order_id); orders after month index `until` are left
    out, as no KPI up to that month depends on them."""
    per: dict[str, list[Order]] = {}
    for o in orders:
        if o.cancelled:
            continue
        at = o.placed_at
        if at.tzinfo is not UTC:
            if at.utcoffset() is None:
                raise ValueError(f"order {o.order_id}: placed_at must be timezone-aware")
            at = at.astimezone(UTC)
        month = at.year * 12 + at.month - 1
        if until is not None and month > until:
            continue
        history = per.get(o.customer_id)
        if history is None:
            per[o.customer_id] = history = []
        history.append((month, at, o.order_id, o.net_minor, o.channel))
    for history in per.values():
        if len(history) > 1:
            history.sort()
    return per


def monthly_kpis(
    orders: Iterable[OrderFact], months: list[str], *, customers: Callable[[str], bool] | None = None
) -> list[MonthKpis]:
    """KPIs for each of `months` (in the order given), over all customers or those for whom `customers` is true."""
    if not months:
        return []
    found = histories(orders, until=max(map(month_index, months)))
    return _kpis((h for cid, h in found.items() if customers is None or customers(cid)), months)


def by_channel(
    orders: Iterable[OrderFact], months: list[str], *, customers: Callable[[str], bool] | None = None
) -> dict[str, list[MonthKpis]]:
    """KPIs per first-order channel: always every channel of ``CHANNELS`` (empty ones too, for steady gauges), plus
    ``other`` only when some first order came through a channel outside the contract."""
    if not months:
        return {}
    groups: dict[str, list[list[Order]]] = {channel: [] for channel in CHANNELS}
    for cid, history in histories(orders, until=max(map(month_index, months))).items():
        if customers is None or customers(cid):
            channel = history[0][4]
            groups.setdefault(channel if channel in CHANNELS else OTHER_CHANNEL, []).append(history)
    return {channel: _kpis(members, months) for channel, members in groups.items()}


def by_cohort(
    orders: Iterable[OrderFact], months: list[str], *, customers: Callable[[str], bool] | None = None
) -> dict[str, list[MonthKpis]]:
    """KPIs per first-order cohort: ``earlier`` (first order before the first of `months`), then every calendar month
    from the first to the last of `months`, empty ones included; so at most 1 + the span of `months` labels."""
    if not months:
        return {}
    first, last = min(map(month_index, months)), max(map(month_index, months))
    groups: dict[str, list[list[Order]]] = {EARLIER_COHORTS: []}
    groups.update((month_label(m), []) for m in range(first, last + 1))
    for cid, history in histories(orders, until=last).items():
        if customers is None or customers(cid):
            cohort = history[0][0]
            groups[EARLIER_COHORTS if cohort < first else month_label(cohort)].append(history)
    return {cohort: _kpis(members, months) for cohort, members in groups.items()}


def _kpis(group: Iterable[list[Order]], months: Sequence[str]) -> list[MonthKpis]:
    """The KPIs of `months` from the group's histories (none after the last month). Per-month arrays cover the
    months from a year before the first one asked for (the windows of M and M-1 reach back to M-12) to the last;
    older orders only add to the "up to the end of M" totals of the historical CLV."""
    wanted = [month_index(m) for m in months]
    lo, hi = min(wanted) - WINDOW_MONTHS, max(wanted)
    size = hi - lo + 2  # slot i is month lo + i; the extra slot takes the ends of ranges reaching past hi
    orders, revenue, active, newcomers = [0] * size, [0] * size, [0] * size, [0] * size
    gap_us, gaps, churned = [0] * size, [0] * size, [0] * size
    covered, repeating = [0] * size, [0] * size  # +1/-1 at the ends of month ranges, summed up below
    earlier_revenue = earlier_customers = 0

    def add_range(diff: list[int], start: int, end: int) -> None:  # months start … end-1, clipped to lo … hi
        start, end = max(start, lo), min(end, hi + 1)
        if start < end:
            diff[start - lo] += 1
            diff[end - lo] -= 1

    def lost(month: int) -> None:
        if lo <= month <= hi:
            churned[month - lo] += 1

    for history in group:
        first = history[0][0]
        if first < lo:
            earlier_customers += 1
        else:
            newcomers[first - lo] += 1
        run_start = first  # start of the run of months whose window holds an order of this customer
        repeat_start = repeat_end = -1  # months whose window holds two of their orders, being merged
        last_month, last_at = -1, None
        for month, at, _, net, _ in history:
            i = month - lo
            if i >= 0:
                orders[i] += 1
                revenue[i] += net
                if month != last_month:
                    active[i] += 1
                if last_at is not None:
                    gap_us[i] += (at - last_at) // _US
                    gaps[i] += 1
            else:
                earlier_revenue += net
            if last_at is not None:
                lapse = last_month + WINDOW_MONTHS
                if month > lapse:  # a year without an order: lost in month `lapse`, back now
                    add_range(covered, run_start, lapse)
                    lost(lapse)
                    run_start = month
                if month < lapse:  # the windows ending in month … lapse-1 hold this order and the one before
                    if month <= repeat_end:
                        repeat_end = lapse
                    else:
                        add_range(repeating, repeat_start, repeat_end)
                        repeat_start, repeat_end = month, lapse
            last_month, last_at = month, at
        add_range(covered, run_start, last_month + WINDOW_MONTHS)
        lost(last_month + WINDOW_MONTHS)
        add_range(repeating, repeat_start, repeat_end)

    covered = list(accumulate(covered))
    repeating = list(accumulate(repeating))
    window_orders = [0, *accumulate(orders)]  # window_orders[i + 1] - window_orders[i - 11]: months i-11 … i
    cumulative_revenue = list(accumulate(revenue, initial=earlier_revenue))[1:]
    cumulative_customers = list(accumulate(newcomers, initial=earlier_customers))[1:]
    out = []
    for month, m in zip(months, wanted, strict=True):
        i = m - lo
        in_window = covered[i]
        out.append(
            MonthKpis(
                month=month,
                customers=active[i],
                orders=orders[i],
                revenue_minor=revenue[i],
                average_order_value_minor=_money(revenue[i], orders[i]),
                repeat_customer_rate=_ratio(repeating[i], in_window),
                purchase_frequency_12m=_ratio(window_orders[i + 1] - window_orders[i + 1 - WINDOW_MONTHS], in_window),
                historical_clv_minor=_money(cumulative_revenue[i], cumulative_customers[i]),
                churn_rate=_ratio(churned[i], covered[i - 1]),
                mean_days_between_orders=_ratio(gap_us[i], gaps[i] * _DAY_US),
            )
        )
    return out


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _money(total: int, count: int) -> int | None:
    """total / count in whole minor units, half to even."""
    if not count:
        return None
    quotient, rest = divmod(total, count)
    if 2 * rest > count or (2 * rest == count and quotient % 2):
        quotient += 1
    return quotient
