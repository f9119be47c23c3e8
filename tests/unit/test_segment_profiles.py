"""The profile fold: the shop's customer record is a snapshot, and a late, older snapshot changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.envelope import new_envelope
from services.segments.domain.profiles import (
    OrderRow,
    Profile,
    add_orders,
    apply_event,
    from_doc,
    summarise_orders,
    to_doc,
)
from tests.segments_service import customer

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def record(at: datetime, **changes) -> object:
    kind, data = customer("c1", kind="customer.updated")
    data.update(changes)
    return new_envelope(kind, "m1", {k: v for k, v in data.items() if v is not None}, occurred_at=at)


def test_an_absent_address_or_birthday_in_a_newer_record_removes_them() -> None:
    first = apply_event(Profile("c1"), record(T0, birthday="1990-03-15"))
    assert (first.city, first.birthday is not None) == ("Dortmund", True)
    moved = apply_event(first, record(T0 + timedelta(days=1), address=None, birthday=None))
    assert (moved.city, moved.postcode, moved.country, moved.birthday) == (None, None, None, None)


def test_an_older_record_arriving_late_does_not_overwrite_a_newer_one() -> None:
    newer = apply_event(Profile("c1"), record(T0, address={"city": "Köln", "postcode": "50667", "country": "DE"}))
    late = apply_event(newer, record(T0 - timedelta(hours=1), email="old@example.de"))
    assert late == newer and late.city == "Köln"
    assert from_doc("c1", to_doc(late)) == late  # and it survives storage


order_rows = st.lists(
    st.tuples(st.integers(0, 2_000), st.integers(0, 20_000), st.sampled_from(["coffee", "tea", "cups"]),
              st.sampled_from(["p1", "p2", "p3"]), st.sampled_from([(), ("A",), ("B", "A")]),
              st.sampled_from(["web_shop", "amazon"]), st.booleans()),
    min_size=1, max_size=12, unique_by=lambda r: r[0],
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(order_rows, st.integers(0, 12))
def test_folding_the_next_orders_equals_summarising_them_all(rows, split) -> None:
    """The consumer folds a customer's next orders into the stored summary instead of reading their history."""
    orders = [
        OrderRow(f"o{minutes}", T0 + timedelta(minutes=minutes * 97), total, 0, "EUR", channel, cancelled,
                 (product,), (category,), codes)
        for minutes, total, category, product, codes, channel, cancelled in rows
    ]  # fmt: skip
    orders.sort(key=lambda o: o.placed_at)
    before, new = orders[:split], orders[split:]
    folded = add_orders(summarise_orders(before), new)
    if folded is None:
        assert any(o.cancelled for o in new)
    else:
        assert folded == summarise_orders(orders)
    late = add_orders(
        summarise_orders(orders), [OrderRow("late", T0 - timedelta(days=1), 100, 0, "EUR", "web_shop", False)]
    )
    assert late is None or not orders or all(o.cancelled for o in orders)
