"""Merchant KPIs on a small, hand-written order history whose numbers are worked out here without the module: a few
by hand (arithmetic in the comments), all of them by a deliberately naive reference that loops over the raw orders
month by month. Then the same reference against random histories, and the splits adding up to the whole."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.segments.domain.cohorts import CohortRow, cohort_retention
from services.segments.domain.kpis import (
    CHANNELS,
    EARLIER_COHORTS,
    MonthKpis,
    OrderFact,
    by_channel,
    by_cohort,
    monthly_kpis,
)

pytestmark = pytest.mark.unit

BERLIN_WINTER = timezone(timedelta(hours=1))


def at(day: str, hour: int = 10, minute: int = 0, tz: timezone = UTC) -> datetime:
    year, month, dom = map(int, day.split("-"))
    return datetime(year, month, dom, hour, minute, tzinfo=tz)


def order(cid: str, oid: str, placed: datetime, net: int, channel: str = "web_shop", cancelled: bool = False):
    return OrderFact(cid, oid, placed, net, channel, cancelled)


# 10 customers, 24 orders, 2025-01 … 2026-02: one cancellation that was a first order (cara), one cancelled repeat
# order (hans), a partial refund (dirk's first order: 8,000 paid, 2,500 refunded), an order placed shortly after
# midnight in Berlin that is still February in UTC (dirk), and a customer lost after a year and back (ben).
HISTORY = [
    order("anna", "a1", at("2025-01-05"), 4000),
    order("anna", "a2", at("2025-02-10"), 3000),
    order("anna", "a3", at("2025-06-01"), 5000, "amazon"),
    order("anna", "a4", at("2026-01-15"), 2000),
    order("ben", "b1", at("2025-01-20"), 2500, "amazon"),
    order("ben", "b2", at("2026-02-03"), 3500, "amazon"),
    order("cara", "c0", at("2025-03-03"), 6000, cancelled=True),
    order("cara", "c1", at("2025-03-10"), 6000, "ebay"),
    order("cara", "c2", at("2025-04-01"), 1500, "ebay"),
    order("dirk", "d1", at("2025-02-28", 23, 30), 8000 - 2500),
    order("dirk", "d2", at("2025-03-01", 0, 45, BERLIN_WINTER), 1200),  # 2025-02-28 23:45 UTC
    order("dirk", "d3", at("2025-03-01", 0, 30), 800),
    order("emil", "e1", at("2025-05-05"), 900, "social"),
    order("frau", "f1", at("2025-07-07"), 4500, "phone"),
    order("frau", "f2", at("2025-07-20"), 4500, "phone"),
    order("frau", "f3", at("2025-12-24"), 9000, "web_shop"),
    order("gina", "g1", at("2025-08-08"), 3000, "point_of_sale"),
    order("gina", "g2", at("2026-02-14"), 3000, "point_of_sale"),
    order("hans", "h1", at("2025-10-01"), 7000),
    order("hans", "h2", at("2025-11-01"), 7000, cancelled=True),
    order("ines", "i1", at("2025-11-11"), 1111, "amazon"),
    order("ines", "i2", at("2025-12-12"), 2222, "amazon"),
    order("ines", "i3", at("2026-01-13"), 3333, "amazon"),
    order("jan", "j1", at("2026-02-20"), 1000),
]
MONTHS = [f"2025-{m:02d}" for m in range(1, 13)] + ["2026-01", "2026-02", "2026-03", "2027-03"]


# ---- the reference: every number straight from its definition, month by month, over the raw list ----


def utc_month(o: OrderFact) -> str:
    return o.placed_at.astimezone(UTC).strftime("%Y-%m")


def shift(month: str, k: int) -> str:
    year, number = divmod(int(month[:4]) * 12 + int(month[5:]) - 1 + k, 12)
    return f"{year:04d}-{number + 1:02d}"


def rate(part: int | Fraction, whole: int) -> float | None:
    return None if whole == 0 else round(float(Fraction(part) / whole), 4)


def money(total: int, count: int) -> int | None:
    return None if count == 0 else round(Fraction(total, count))  # Fraction rounds half to even


def reference(orders: list[OrderFact], month: str) -> MonthKpis:
    counted = [o for o in orders if not o.cancelled]
    window = {shift(month, -k) for k in range(12)}
    before = {shift(month, -k) for k in range(1, 13)}
    in_month = [o for o in counted if utc_month(o) == month]
    per_customer = Counter(o.customer_id for o in counted if utc_month(o) in window)
    so_far = [o for o in counted if utc_month(o) <= month]
    had = {o.customer_id for o in counted if utc_month(o) in before}
    gaps = []
    for cid in {o.customer_id for o in counted}:
        mine = sorted((o for o in counted if o.customer_id == cid), key=lambda o: o.placed_at)
        for a, b in pairwise(mine):
            if utc_month(b) == month:
                gaps.append(Fraction((b.placed_at - a.placed_at) // timedelta(microseconds=1), 86_400 * 10**6))
    return MonthKpis(
        month=month,
        customers=len({o.customer_id for o in in_month}),
        orders=len(in_month),
        revenue_minor=sum(o.net_minor for o in in_month),
        average_order_value_minor=money(sum(o.net_minor for o in in_month), len(in_month)),
        repeat_customer_rate=rate(sum(1 for n in per_customer.values() if n >= 2), len(per_customer)),
        purchase_frequency_12m=rate(sum(per_customer.values()), len(per_customer)),
        historical_clv_minor=money(sum(o.net_minor for o in so_far), len({o.customer_id for o in so_far})),
        churn_rate=rate(len(had - set(per_customer)), len(had)),
        mean_days_between_orders=rate(sum(gaps, Fraction(0)), len(gaps)),
    )


# ---- the fixed history ----


def test_february_2025_by_hand() -> None:
    feb = monthly_kpis(HISTORY, ["2025-02"])[0]
    # anna 3000 (a2); dirk 5500 (d1, after the refund) and 1200 (d2: 00:45 in Berlin is 23:45 UTC on the 28th)
    assert (feb.customers, feb.orders, feb.revenue_minor) == (2, 3, 9700)
    assert feb.average_order_value_minor == 3233  # 9700 / 3 = 3233.33
    # window 2024-03 … 2025-02: anna 2 orders, ben 1, dirk 2 → 3 customers, 2 of them repeat, 5 orders
    assert feb.repeat_customer_rate == 0.6667 and feb.purchase_frequency_12m == 1.6667
    # up to the end of February: anna 7000 + ben 2500 + dirk 6700 = 16200 over 3 customers
    assert feb.historical_clv_minor == 5400
    # active in 2024-02 … 2025-01: anna and ben, both still active in 2024-03 … 2025-02
    assert feb.churn_rate == 0.0
    # anna 01-05 → 02-10: 36 days; dirk d1 → d2: 15 minutes = 0.0104 days; mean 18.0052
    assert feb.mean_days_between_orders == 18.0052


def test_the_first_month_has_nothing_to_compare_with() -> None:
    jan = monthly_kpis(HISTORY, ["2025-01"])[0]
    assert (jan.customers, jan.orders, jan.revenue_minor, jan.average_order_value_minor) == (2, 2, 6500, 3250)
    assert jan.repeat_customer_rate == 0.0 and jan.purchase_frequency_12m == 1.0
    assert jan.churn_rate is None and jan.mean_days_between_orders is None  # nobody before, no second order


def test_a_year_without_an_order_is_churn_and_the_return_does_not_rewrite_it() -> None:
    jan, feb, mar = monthly_kpis(HISTORY, ["2026-01", "2026-02", "2026-03"])
    # active in 2025-01 … 2025-12: everyone but jan (9); ben's only order in it was 2025-01 → lost in 2026-01
    assert jan.churn_rate == 0.1111  # 1 / 9
    # ben is back in February: counted active again, nobody lost (dirk's d3 on 2025-03-01 keeps him a month more)
    assert feb.churn_rate == 0.0 and feb.customers == 3  # ben, gina, jan
    # active in 2025-03 … 2026-02: all 10; dirk's last order was 2025-03 → lost in 2026-03
    assert mar.churn_rate == 0.1 and mar.orders == 0 and mar.average_order_value_minor is None
    # window 2025-04 … 2026-03: anna a3 a4, ben b2, cara c2, emil, frau ×3, gina ×2, hans, ines ×3, jan = 15 orders
    # over 9 customers (dirk gone), 4 of them with ≥ 2 (anna, frau, gina, ines)
    assert mar.purchase_frequency_12m == 1.6667 and mar.repeat_customer_rate == 0.4444


def test_ordering_again_in_the_twelfth_month_is_not_churn() -> None:
    kai = [order("kai", "k1", at("2025-01-31"), 100), order("kai", "k2", at("2026-01-01"), 100)]
    kpis = monthly_kpis(kai, MONTHS)
    assert kpis == [reference(kai, m) for m in MONTHS]
    # 2025-01 has no one before it, 2027-03 no one in 2026-03 … 2027-02; in between kai is always active
    assert [k.churn_rate for k in kpis] == [None] + [0.0] * 14 + [None]
    assert {k.repeat_customer_rate for k in kpis} == {0.0, None}  # no 12-month window holds both orders
    assert kpis[12].mean_days_between_orders == 335.0  # 2025-01-31 → 2026-01-01


def test_every_month_equals_the_reference() -> None:
    assert monthly_kpis(HISTORY, MONTHS) == [reference(HISTORY, m) for m in MONTHS]


def test_input_order_and_timezone_of_the_input_do_not_matter() -> None:
    shuffled = HISTORY[::-1]
    random.Random(7).shuffle(shuffled)
    in_berlin = [replace(o, placed_at=o.placed_at.astimezone(BERLIN_WINTER)) for o in shuffled]
    assert monthly_kpis(in_berlin, MONTHS) == monthly_kpis(HISTORY, MONTHS)


def test_money_is_rounded_half_to_even() -> None:
    two = [order("x", "1", at("2025-05-01"), 1000), order("y", "2", at("2025-05-02"), 1001)]
    assert monthly_kpis(two, ["2025-05"])[0].average_order_value_minor == 1000  # 1000.5
    two[1] = replace(two[1], net_minor=1003)
    assert monthly_kpis(two, ["2025-05"])[0].average_order_value_minor == 1002  # 1001.5


def test_a_naive_timestamp_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        monthly_kpis([order("x", "1", datetime(2025, 5, 1), 100)], ["2025-05"])
    with pytest.raises(ValueError, match="2026-03"):
        monthly_kpis(HISTORY, ["2026-3"])


def test_channels_are_the_first_orders_and_always_all_six() -> None:
    split = by_channel(HISTORY, MONTHS)
    assert list(split) == list(CHANNELS)
    first_channel = {"anna": "web_shop", "dirk": "web_shop", "hans": "web_shop", "jan": "web_shop",
                     "ben": "amazon", "ines": "amazon", "cara": "ebay",  # cara's cancelled first try was web_shop
                     "emil": "social", "frau": "phone", "gina": "point_of_sale"}  # fmt: skip
    for channel, kpis in split.items():
        members = [o for o in HISTORY if first_channel[o.customer_id] == channel]
        assert kpis == [reference(members, m) for m in MONTHS], channel
    # anna's June order on Amazon is web_shop revenue: she came through the web shop
    assert split["web_shop"][5].revenue_minor == 5000 and split["amazon"][5].revenue_minor == 0
    assert split["social"][4].historical_clv_minor == 900 and split["ebay"][0].historical_clv_minor is None


def test_a_segment_is_a_predicate_on_customers() -> None:
    vip = {"anna", "frau", "ines"}
    kpis = monthly_kpis(HISTORY, MONTHS, customers=vip.__contains__)
    assert kpis == [reference([o for o in HISTORY if o.customer_id in vip], m) for m in MONTHS]
    assert kpis[11].revenue_minor == 9000 + 2222  # 2025-12: frau's Christmas order and ines


def first_months(orders: list[OrderFact]) -> dict[str, str]:
    counted = [o for o in orders if not o.cancelled]
    return {cid: min(utc_month(o) for o in counted if o.customer_id == cid) for cid in {o.customer_id for o in counted}}


def test_cohort_kpis() -> None:
    months = MONTHS[2:14]  # 2025-03 … 2026-02
    split = by_cohort(HISTORY, months)
    assert list(split) == [EARLIER_COHORTS, *months]
    first = first_months(HISTORY)
    for cohort, kpis in split.items():
        members = {c for c, m in first.items() if (m < "2025-03" if cohort == EARLIER_COHORTS else m == cohort)}
        assert kpis == [reference([o for o in HISTORY if o.customer_id in members], m) for m in months], cohort
    assert split[EARLIER_COHORTS][0].revenue_minor == 800  # anna, ben, dirk: only dirk's d3 in March
    assert split["2025-03"][0].revenue_minor == 6000 and split["2025-03"][1].revenue_minor == 1500  # cara
    assert split["2025-04"][-1].historical_clv_minor is None  # nobody's first order was in April


def test_the_retention_matrix() -> None:
    rows = cohort_retention(HISTORY, "2025-01", "2025-04")
    assert rows == [
        CohortRow("2025-01", 2, [1.0, 0.5, 0.0, 0.0]),  # anna, ben; anna again in February
        CohortRow("2025-02", 1, [1.0, 1.0, 0.0]),  # dirk; d3 is in March UTC
        CohortRow("2025-03", 1, [1.0, 1.0]),  # cara: c0 was cancelled, c1 in March, c2 in April
        CohortRow("2025-04", 0, [0.0]),
    ]
    counted = [o for o in HISTORY if not o.cancelled]
    first = first_months(HISTORY)
    for i, row in enumerate(cohort_retention(HISTORY, "2025-01", "2026-02")):
        members = {cid for cid, m in first.items() if m == row.cohort}
        assert row.customers == len(members)
        expected = []
        for k in range(len(row.retained)):
            buying = {
                o.customer_id for o in counted if o.customer_id in members and utc_month(o) == shift(row.cohort, k)
            }
            expected.append(rate(len(buying), len(members)) or 0.0)
        assert row.retained == expected and len(row.retained) == 14 - i
    with pytest.raises(ValueError):
        cohort_retention(HISTORY, "2025-04", "2025-01")


# ---- any history ----

customer_ids = st.sampled_from([f"c{n}" for n in range(8)])
instants = st.datetimes(datetime(2024, 6, 1), datetime(2026, 6, 30), timezones=st.just(UTC))
histories = st.lists(
    st.builds(
        OrderFact,
        customer_id=customer_ids,
        order_id=st.uuids().map(str),
        placed_at=instants,
        net_minor=st.integers(0, 20_000),
        channel=st.sampled_from([*CHANNELS, "fax"]),
        cancelled=st.booleans(),
    ),
    max_size=40,
)
SPAN = [shift("2025-01", k) for k in range(18)]


@settings(max_examples=60, deadline=None)
@given(histories)
def test_any_history_equals_the_reference(orders: list[OrderFact]) -> None:
    assert monthly_kpis(orders, SPAN) == [reference(orders, m) for m in SPAN]


@settings(max_examples=150, deadline=None)
@given(histories)
def test_splits_add_up_and_rates_are_shares(orders: list[OrderFact]) -> None:
    overall = monthly_kpis(orders, SPAN)
    assert set(by_channel(orders, SPAN)) <= {*CHANNELS, "other"}
    for split in (by_channel(orders, SPAN), by_cohort(orders, SPAN)):
        for i, month in enumerate(overall):
            parts = [kpis[i] for kpis in split.values()]
            assert sum(p.revenue_minor for p in parts) == month.revenue_minor
            assert sum(p.orders for p in parts) == month.orders
            assert sum(p.customers for p in parts) == month.customers
    for month in overall:
        for share in (month.repeat_customer_rate, month.churn_rate):
            assert share is None or 0.0 <= share <= 1.0
        assert month.purchase_frequency_12m is None or month.purchase_frequency_12m >= 1.0
    for row in cohort_retention(orders, SPAN[0], SPAN[-1]):
        assert all(0.0 <= r <= 1.0 for r in row.retained)
        assert row.customers == 0 or row.retained[0] == 1.0
