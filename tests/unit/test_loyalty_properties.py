"""Property tests over random event streams: the ledger never loses or doubles a point.

Streams mix orders (placed, paid, delivered, cancelled, partial returns and refunds), reviews, delays,
points payments and the passing of time (scheduled confirmations, expiry, tier reviews), deliver
them in random order within a customer and repeat random subsets.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.envelope import Envelope
from services.loyalty.domain.model import REVERSAL_KINDS
from services.loyalty.domain.programme import Programme, ProgrammeConfig
from tests.loyalty_model import (
    LoyaltyModel,
    order_cancelled,
    order_delivered,
    order_paid,
    order_placed,
    order_refunded,
    order_returned,
    review,
    shipment_delayed,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CUSTOMERS = ("c1", "c2")
LINES = {
    "o1": [("a", 2, 3990, "shoes"), ("b", 1, 1290, "socks")],
    "o2": [("a", 1, 25000, "jackets")],
    "o3": [("a", 3, 999, "care"), ("b", 1, 5000, "gift_card"), ("c", 2, 2450, "shoes")],
}

_buy = st.tuples(st.just("buy"), st.sampled_from(CUSTOMERS), st.sampled_from(sorted(LINES)))
_return = st.tuples(
    st.sampled_from(["returned", "refunded"]),
    st.sampled_from(CUSTOMERS),
    st.sampled_from(sorted(LINES)),
    st.sampled_from(["a", "b", "c"]),
    st.integers(1, 3),
)
op = st.one_of(
    _buy,
    _buy,
    _buy,
    _return,
    _return,
    st.tuples(st.just("placed"), st.sampled_from(CUSTOMERS), st.sampled_from(sorted(LINES))),
    st.tuples(st.just("paid"), st.sampled_from(CUSTOMERS), st.sampled_from(sorted(LINES))),
    st.tuples(st.just("delivered"), st.sampled_from(CUSTOMERS), st.sampled_from(sorted(LINES))),
    st.tuples(st.just("cancelled"), st.sampled_from(CUSTOMERS), st.sampled_from(sorted(LINES))),
    st.tuples(
        st.sampled_from(["returned", "refunded"]),
        st.sampled_from(CUSTOMERS),
        st.sampled_from(sorted(LINES)),
        st.sampled_from(["a", "b", "c"]),
        st.integers(1, 3),
    ),
    st.tuples(st.just("review"), st.sampled_from(CUSTOMERS), st.integers(1, 3), st.booleans()),
    st.tuples(st.just("delayed"), st.sampled_from(CUSTOMERS), st.integers(1, 2)),
    st.tuples(st.just("pay"), st.sampled_from(CUSTOMERS), st.integers(1, 400)),
    st.tuples(st.just("wait"), st.integers(1, 400)),
)


def build(ops: list[tuple]) -> list[tuple[str, object]]:
    """Ops → a script of ("event", Envelope) / ("wait", now) / ("pay", args), with fixed ids and times."""
    script: list[tuple[str, object]] = []
    now = T0
    for n, o in enumerate(ops):
        now += timedelta(minutes=7)
        kind, *args = o
        at = now
        if kind == "wait":
            now += timedelta(days=args[0])
            script.append(("wait", now))
            continue
        if kind == "pay":
            script.append(("pay", (args[0], args[1], now)))
            continue
        customer = args[0]
        order = f"{customer}-{args[1]}" if kind not in ("review", "delayed") else None
        if kind == "buy":  # the common case: the order and its payment, then whatever follows
            script.append(("event", order_placed(customer, order, at, LINES[args[1]])))
            ev: Envelope = order_paid(customer, order, at + timedelta(minutes=1))
        elif kind == "placed":
            ev = order_placed(customer, order, at, LINES[args[1]])
        elif kind == "paid":
            ev = order_paid(customer, order, at)
        elif kind == "delivered":
            ev = order_delivered(customer, order, at)
        elif kind == "cancelled":
            ev = order_cancelled(customer, order, at)
        elif kind == "returned":
            ev = order_returned(customer, order, at, {args[2]: args[3]}, f"r{n}")
        elif kind == "refunded":
            ev = order_refunded(customer, order, at, {args[2]: args[3]}, f"rf{n}")
        elif kind == "review":
            ev = review(customer, f"{customer}-rv{args[1]}", at, photo=args[2])
        else:
            ev = shipment_delayed(customer, f"{customer}-o1", f"{customer}-s{args[1]}", at)
        script.append(("event", ev))
    return script


#: Small minimum for points payments so streams spend points and returns run into shortfalls.
PROGRAMME = Programme(version=1, config=ProgrammeConfig(points_payment={"min_points": 1, "max_share_percent": 100}))


def play(model: LoyaltyModel, script: list[tuple[str, object]]) -> None:
    for kind, item in script:
        if kind == "event":
            model.deliver([item])  # type: ignore[list-item]
        elif kind == "wait":
            model.run_jobs(item)  # type: ignore[arg-type]
        else:
            customer, points, now = item  # type: ignore[misc]
            model.pay_with_points(customer, points, 100_000, now)


def check_invariants(model: LoyaltyModel) -> None:
    by_id = {e.entry_id: e for e in model.entries()}
    assert len(by_id) == len(model.entries()), "an entry id was written twice"
    for (_, customer), account in model.book.accounts.items():
        entries = model.entries(customer)
        assert account.available == sum(e.points for e in entries if e.bucket == "available") >= 0
        assert account.pending == sum(e.points for e in entries if e.bucket == "pending") >= 0
        assert account.debt >= 0 and account.lifetime_earned >= 0
    for entry in model.entries():
        if entry.kind in REVERSAL_KINDS:
            original = by_id.get(entry.reverses_entry_id)  # type: ignore[arg-type]
            assert original is not None and original.kind in ("pending", "confirm"), entry


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.lists(op, min_size=1, max_size=40), st.randoms(use_true_random=False))
def test_balances_are_sums_of_entries_never_negative_and_reversals_reference_earnings(ops, rnd) -> None:
    script = [*build(ops), ("wait", T0 + timedelta(days=2000))]
    # Reorder within a customer: shuffle the events between two waits (delivery order is not event order).
    shuffled: list[tuple[str, object]] = []
    chunk: list[tuple[str, object]] = []
    for step in script:
        if step[0] == "event":
            chunk.append(step)
        else:
            rnd.shuffle(chunk)
            shuffled += [*chunk, step]
            chunk = []
    model = LoyaltyModel(PROGRAMME)
    play(model, shuffled + chunk)
    check_invariants(model)


@SETTINGS
@given(st.lists(op, min_size=1, max_size=40), st.data())
def test_redelivering_any_subset_changes_nothing_and_a_replay_gives_the_same_ledger(ops, data) -> None:
    script = build(ops)
    first = LoyaltyModel(PROGRAMME)
    play(first, script)
    balances, entry_ids = first.balances(), [e.entry_id for e in first.entries()]
    events = [item for kind, item in script if kind == "event"]
    again = data.draw(st.lists(st.sampled_from(events), max_size=len(events)) if events else st.just([]))
    first.deliver(again)  # at-least-once: the same events again, any subset, any order
    assert first.balances() == balances and [e.entry_id for e in first.entries()] == entry_ids

    replay = LoyaltyModel(PROGRAMME)
    play(replay, script)
    assert replay.balances() == balances
    assert [(e.entry_id, e.points) for e in replay.entries()] == [(e.entry_id, e.points) for e in first.entries()]
    check_invariants(replay)


def test_ids_are_deterministic_across_processes() -> None:
    """Entry ids derive from causes, not from uuid4: a replay after a crash writes the same rows."""
    script = build([("placed", "c1", "o1"), ("paid", "c1", "o1"), ("wait", 40)])
    a, b = LoyaltyModel(PROGRAMME), LoyaltyModel(PROGRAMME)
    play(a, script)
    play(b, script)
    assert [e.entry_id for e in a.entries()] == [e.entry_id for e in b.entries()]
    assert all(isinstance(e.entry_id, uuid.UUID) for e in a.entries())
