"""Incremental membership (each event reassesses only its customer, the scheduled walk only time-dependent
segments) ends where a from-scratch evaluation of the whole history ends, for any event stream."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.envelope import Envelope, new_envelope
from services.segments.domain.membership import Segment
from services.segments.domain.profiles import OrderRow, Profile, apply_event, summarise_orders, with_orders
from services.segments.domain.reassess import reassess
from tests.segments_service import consent, order, review

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MERCHANT = "m-prop"
CUSTOMERS = ("a", "b", "c")
DEFINITIONS = {
    "two-orders": {"op": "compare", "property": "order_count", "cmp": ">=", "value": 2},
    "recent-coffee": {"op": "bought", "category": "coffee", "within_days": 20},
    "active": {"op": "performed", "event": "order.placed", "at_least": 2, "within_days": 30},
    "happy-consenting": {"op": "and", "of": [{"op": "compare", "property": "average_rating", "cmp": ">=", "value": 4},
                                             {"op": "consent", "purpose": "advertising"}]},
    "slipping": {"op": "or", "of": [{"op": "compare", "property": "lifecycle", "cmp": "in",
                                      "value": ["at_risk", "lapsed"]},
                                     {"op": "not", "of": {"op": "compare", "property": "revenue_minor", "cmp": ">",
                                                          "value": 8_000}}]},
}  # fmt: skip
SEGMENTS = [Segment.from_stored(k, 1, k, v, {}) for k, v in DEFINITIONS.items()]
TIMED = {s.segment_id for s in SEGMENTS if s.time_dependent}

step = st.tuples(
    st.sampled_from(("order", "order", "cancel", "consent", "review")),
    st.sampled_from(CUSTOMERS),
    st.integers(1, 20 * 24),  # hours since the previous event
    st.integers(1_000, 9_000),
    st.sampled_from(("coffee", "tea")),
    st.booleans(),
    st.integers(1, 5),
)


def stream(steps) -> list[Envelope]:
    events, at, placed = [], T0, {}
    for n, (kind, customer, hours, total, category, flag, rating) in enumerate(steps):
        at += timedelta(hours=hours)
        if kind == "order":
            kind_data = order(f"o{n}", customer, at, total, category=category)
            placed.setdefault(customer, []).append(f"o{n}")
        elif kind == "cancel" and placed.get(customer):
            kind_data = (
                "order.cancelled",
                {"order_id": placed[customer][0], "customer_id": customer, "reason": "other"},
            )
        elif kind == "consent":
            kind_data = consent(customer, flag)
        else:
            kind_data = review(customer, rating, review_id=f"rv{n}")
        events.append(new_envelope(kind_data[0], MERCHANT, kind_data[1], occurred_at=at, event_id=uuid.uuid4()))
    return events


def order_rows(events: list[Envelope]) -> list[OrderRow]:
    rows: dict[str, OrderRow] = {}
    for e in events:
        d = e.data
        if e.type == "order.placed":
            line = d["lines"][0]
            rows[d["order_id"]] = OrderRow(d["order_id"], e.occurred_at, d["total_minor"], 0, "EUR", d["channel"],
                                           False, (line["product_id"],), (line["category"],))  # fmt: skip
        elif e.type == "order.cancelled":
            o = rows[d["order_id"]]
            rows[d["order_id"]] = OrderRow(o.order_id, o.placed_at, o.total_minor, 0, "EUR", o.channel, True,
                                           o.products, o.categories)  # fmt: skip
    return list(rows.values())


@settings(max_examples=120, deadline=None)
@given(st.lists(step, min_size=1, max_size=40), st.integers(0, 60 * 24))
def test_incremental_membership_equals_a_from_scratch_evaluation(steps, hours_after) -> None:
    events = stream(steps)
    profiles = {c: Profile(c) for c in CUSTOMERS}
    memberships: dict[str, dict[str, str]] = {c: {} for c in CUSTOMERS}
    seen: dict[str, list[Envelope]] = {c: [] for c in CUSTOMERS}
    for event in events:  # the consumer: one event at a time, only its customer reassessed, `now` = its time
        c = event.data["customer_id"]
        seen[c].append(event)
        profile = apply_event(profiles[c], event)
        if event.type.startswith("order."):
            profile = with_orders(profile, summarise_orders(order_rows(seen[c])))
        out = reassess(MERCHANT, profile, memberships[c], SEGMENTS, None, event.occurred_at, cause="event",
                       source_id=event.event_id)  # fmt: skip
        profiles[c], memberships[c] = out.profile, out.memberships
    end = events[-1].occurred_at + timedelta(hours=hours_after)
    for c in CUSTOMERS:  # the scheduled walk: time-dependent segments only
        out = reassess(MERCHANT, profiles[c], memberships[c], SEGMENTS, None, end, cause="schedule",
                       source_id=uuid.uuid4(), only=TIMED)  # fmt: skip
        profiles[c], memberships[c] = out.profile, out.memberships

    for c in CUSTOMERS:  # from scratch: the whole history folded, every segment evaluated at the end
        scratch = Profile(c)
        for event in seen[c]:
            scratch = apply_event(scratch, event)
        scratch = with_orders(scratch, summarise_orders(order_rows(seen[c])))
        fresh = reassess(MERCHANT, scratch, {}, SEGMENTS, None, end, cause="schedule", source_id=uuid.uuid4())
        assert set(memberships[c]) == set(fresh.memberships), c
        assert profiles[c].orders == fresh.profile.orders and profiles[c].consents == fresh.profile.consents


def test_metrics_count_each_transition_and_trigger_of_a_batch_once() -> None:
    from prometheus_client import CollectorRegistry

    from services.segments.metrics import SegmentsMetrics

    registry = CollectorRegistry()
    metrics = SegmentsMetrics.create(registry)
    at = datetime(2026, 3, 1, tzinfo=UTC)
    ref = {"customer_id": "c-1", "segment_id": "s-1", "segment_name": "VIP", "segment_version": 1}
    emitted = [
        new_envelope("segment.entered", "m-1", {**ref, "cause": "event"}, occurred_at=at),
        new_envelope("segment.entered", "m-1", {**ref, "customer_id": "c-2", "cause": "event"}, occurred_at=at),
        new_envelope("segment.exited", "m-1", {**ref, "cause": "schedule"}, occurred_at=at),
    ]
    trigger = {"customer_id": "c-1", "trigger": "win_back", "lifecycle": "at_risk"}
    emitted.append(new_envelope("segments.triggered", "m-1", trigger, occurred_at=at))
    metrics.count(emitted)
    metrics.count(emitted[:1])

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("retention_segments_transitions_total", direction="entered", cause="event") == 3
    assert value("retention_segments_transitions_total", direction="exited", cause="schedule") == 1
    assert value("retention_segments_triggers_total", trigger="win_back") == 1
