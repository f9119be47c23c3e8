"""RFM scores and groups on a small shop whose answer is known, and invariants on any shop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.segments.domain.rfm import Buyer, RfmCuts, group, scores

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 2, tzinfo=UTC)


def buyer(cid: str, days_ago: int, orders: int, revenue: int) -> Buyer:
    return Buyer(cid, NOW - timedelta(days=days_ago), orders, revenue)


def test_a_small_shop_scores_as_a_person_would() -> None:
    shop = [
        buyer("best", 2, 12, 120_000),
        buyer("steady", 20, 6, 40_000),
        buyer("new", 5, 1, 3_000),
        buyer("slipping", 150, 8, 90_000),
        buyer("gone", 400, 1, 2_000),
    ]
    rfm = scores(shop, NOW)
    assert (rfm["best"].recency, rfm["best"].frequency, rfm["best"].monetary) == (5, 5, 5)
    assert rfm["best"].group == "champions"
    assert rfm["steady"].group == "loyal"
    assert rfm["new"].group == "potential_loyalists"
    assert rfm["slipping"].group in ("at_risk", "cant_lose")
    assert rfm["gone"].group == "lost"


def test_the_chart() -> None:
    assert group(5, 5, 5) == "champions" and group(5, 4, 4) == "champions"
    assert group(3, 3, 3) == "loyal" and group(4, 1, 2) == "potential_loyalists"
    assert group(2, 3, 4) == "at_risk" and group(1, 5, 5) == "cant_lose"
    assert group(2, 1, 1) == "hibernating" and group(1, 1, 2) == "lost"


shops = st.lists(
    st.builds(
        lambda n, d, o, r: buyer(f"c{n}", d, o, r),
        st.integers(0, 10_000),
        st.integers(0, 800),
        st.integers(1, 50),
        st.integers(100, 1_000_000),
    ),
    min_size=1,
    max_size=60,
    unique_by=lambda b: b.customer_id,
)


@settings(max_examples=150, deadline=None)
@given(shops)
def test_scores_are_quintiles_and_equal_numbers_share_a_group(shop: list[Buyer]) -> None:
    rfm = scores(shop, NOW)
    assert set(rfm) == {b.customer_id for b in shop}
    assert all(1 <= s <= 5 for v in rfm.values() for s in (v.recency, v.frequency, v.monetary))
    for a in shop:
        for b in shop:
            if a.order_count > b.order_count:
                assert rfm[a.customer_id].frequency >= rfm[b.customer_id].frequency
            if a.last_order_at > b.last_order_at:
                assert rfm[a.customer_id].recency >= rfm[b.customer_id].recency
            same = (a.last_order_at.date(), a.order_count, a.revenue_minor) == (
                b.last_order_at.date(), b.order_count, b.revenue_minor)  # fmt: skip
            if same:
                assert rfm[a.customer_id] == rfm[b.customer_id]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 400), st.integers(1, 8), st.integers(0, 20)),
        min_size=1,
        max_size=80,
    )
)
def test_scoring_one_customer_against_the_cuts_equals_scoring_the_whole_population(rows) -> None:
    """The incremental path (stored cuts) and the refresh (all buyers) never disagree on the same population."""
    buyers = [Buyer(f"c{i}", NOW - timedelta(days=d), n, m * 500) for i, (d, n, m) in enumerate(rows)]
    everyone = scores(buyers, NOW)
    cuts = RfmCuts.of(buyers, NOW)
    assert cuts is not None
    restored = RfmCuts.from_doc(cuts.to_doc())
    for b in buyers:
        assert restored.score(b.last_order_at, b.order_count, b.revenue_minor, NOW) == everyone[b.customer_id]
