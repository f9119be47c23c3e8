"""Lifecycle phases from a customer's orders, measured against their own rhythm."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.segments.domain.lifecycle import PHASES, phase

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 2, tzinfo=UTC)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def test_the_phases_of_a_life_with_a_shop() -> None:
    assert phase(0, None, None, NOW) == "prospect"
    assert phase(0, None, None, NOW, open_cart=True) == "cart"
    assert phase(1, ago(3), None, NOW) == "first_time_buyer"
    assert phase(2, ago(10), 40, NOW) == "repeat"
    assert phase(6, ago(10), 40, NOW) == "loyal"
    assert phase(1, ago(100), None, NOW) == "at_risk"  # no rhythm yet: the fixed 90 days
    assert phase(1, ago(200), None, NOW) == "lapsed"


def test_overdue_is_measured_against_the_customers_own_rhythm() -> None:
    coffee = 21.0  # every three weeks
    assert phase(8, ago(30), coffee, NOW) == "loyal"
    assert phase(8, ago(50), coffee, NOW) == "at_risk"  # two gaps and more
    assert phase(8, ago(90), coffee, NOW) == "lapsed"  # four gaps and more
    shoes = 180.0  # twice a year: half a year without an order is normal
    assert phase(3, ago(170), shoes, NOW) == "repeat"


def test_an_order_after_a_long_silence_is_won_back_for_a_while() -> None:
    assert phase(4, ago(5), 60, NOW, previous_gap_days=200) == "won_back"
    assert phase(4, ago(70), 60, NOW, previous_gap_days=200) == "loyal"  # rhythm re-established


@given(
    st.integers(0, 50),
    st.floats(0, 2000),
    st.one_of(st.none(), st.floats(0.5, 400)),
    st.booleans(),
    st.one_of(st.none(), st.floats(0, 1000)),
)
def test_always_one_known_phase_and_time_only_makes_it_worse(
    orders: int, days: float, gap: float | None, cart: bool, previous: float | None
) -> None:
    last = ago(days) if orders else None
    now_phase = phase(orders, last, gap, NOW, open_cart=cart, previous_gap_days=previous)
    assert now_phase in PHASES
    later = phase(orders, last, gap, NOW + timedelta(days=400), open_cart=cart, previous_gap_days=previous)
    if orders:
        assert later == "lapsed"  # without another order, every buyer lapses in the end
