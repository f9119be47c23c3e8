"""Segment condition trees: validated with the path of the bad node, evaluated with an explanation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.platform.demo_segments import DEMO_SEGMENTS
from services.segments.domain.conditions import (
    CustomerFacts,
    compile_tree,
    explain,
    holds,
    parse,
    time_dependent,
)
from services.segments.entrypoints.segments_api import SegmentCreate

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
REPEAT_BUYER = {
    "op": "and",
    "of": [
        {"op": "compare", "property": "order_count", "cmp": ">=", "value": 2},
        {"op": "performed", "event": "order.placed", "at_least": 1, "within_days": 90},
        {"op": "bought", "category": "coffee"},
        {"op": "not", "of": {"op": "consent", "purpose": "marketing", "granted": False}},
    ],
}


def facts(order_count: int = 3, last_order_days_ago: int = 10, consent: bool = True) -> CustomerFacts:
    last = NOW - timedelta(days=last_order_days_ago)
    return CustomerFacts(
        properties={"order_count": order_count, "first_order_at": date(2025, 1, 5), "rfm_group": "loyal"},
        events={"order.placed": [(NOW - timedelta(days=200)).timestamp(), last.timestamp()]},
        purchases={"category:coffee": [last.timestamp()]},
        consents={"marketing": consent},
    )


def test_a_tree_holds_and_says_why_with_the_deciding_values() -> None:
    tree, problems = parse(REPEAT_BUYER)
    assert problems == [] and tree is not None
    why = explain(tree, facts(), NOW)
    assert why.held and why.because == "and: 4 of 4 hold"
    assert why.parts[0].because == "order_count is 3, wanted >= 2" and why.parts[0].path == "of[0]"
    assert why.parts[1].because == "order.placed 1 times in 90 days, wanted at least 1"
    lapsed = explain(tree, facts(last_order_days_ago=120), NOW)
    assert not lapsed.held and [p.held for p in lapsed.parts] == [True, False, True, True]
    assert "✗ order.placed 0 times in 90 days" in "\n".join(lapsed.lines())
    assert time_dependent(tree)  # the 90-day window: re-evaluated on a schedule


@pytest.mark.parametrize(
    ("definition", "path", "message"),
    [
        ({"op": "and", "of": [{"op": "performed", "event": "order.placed", "within_days": -3}]}, "of[0].within_days",
         "greater than or equal to 1"),
        ({"op": "compare", "property": "shoe_size", "cmp": "=", "value": 42}, "property",
         "unknown property `shoe_size`"),
        ({"op": "compare", "property": "order_count", "cmp": ">", "value": "many"}, "", "order_count` is a int"),
        ({"op": "compare", "property": "city", "cmp": "<", "value": "Köln"}, "", "does not apply to the text property"),
        ({"op": "or", "of": []}, "of", "at least 1 item"),
        ({"op": "bought"}, "", "either a category or a product_id"),
        ({"op": "teleport"}, "", "does not match any of the expected tags"),
        ({"op": "rfm_group", "groups": ["royalty"]}, "groups[0]", "Input should be"),
        ({"op": "not", "of": {"op": "consent", "purpose": "marketing", "extra": 1}}, "of.extra", "Extra inputs"),
    ],
)  # fmt: skip
def test_bad_definitions_name_the_node_and_the_reason(definition: dict, path: str, message: str) -> None:
    tree, problems = parse(definition)
    assert tree is None
    assert any(p.path == path and message in p.message for p in problems), problems


def test_too_deep_a_tree_is_refused() -> None:
    node: dict = {"op": "consent", "purpose": "marketing"}
    for _ in range(12):
        node = {"op": "not", "of": node}
    assert parse(node)[1][0].message == "nested deeper than 12 levels"


def test_unknown_values_never_satisfy_an_ordering_and_dates_compare_as_dates() -> None:
    prospect = CustomerFacts(properties={"order_count": 0})
    tree, _ = parse({"op": "compare", "property": "revenue_minor", "cmp": ">", "value": 0})
    assert tree is not None and not holds(tree, prospect, NOW)
    early, _ = parse({"op": "compare", "property": "first_order_at", "cmp": "<", "value": "2025-06-01"})
    assert early is not None and holds(early, facts(), NOW)


LEAVES = [
    {"op": "compare", "property": "order_count", "cmp": ">=", "value": 2},
    {"op": "compare", "property": "rfm_group", "cmp": "in", "value": ["loyal", "champions"]},
    {"op": "performed", "event": "order.placed", "at_least": 1, "within_days": 30},
    {"op": "bought", "category": "coffee", "within_days": 60},
    {"op": "consent", "purpose": "marketing"},
    {"op": "rfm_group", "groups": ["at_risk"]},
]
trees = st.recursive(
    st.sampled_from(LEAVES),
    lambda children: st.one_of(
        st.builds(lambda xs: {"op": "and", "of": xs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda xs: {"op": "or", "of": xs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda x: {"op": "not", "of": x}, children),
    ),
    max_leaves=8,
)
customers = st.builds(
    facts,
    order_count=st.integers(0, 6),
    last_order_days_ago=st.integers(0, 120),
    consent=st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(trees, trees, customers)
def test_the_logic_is_boolean_logic(a: dict, b: dict, customer: CustomerFacts) -> None:
    """De Morgan and double negation on any trees and customers; a definition round-trips through JSON."""
    ta, tb = parse(a)[0], parse(b)[0]
    assert ta is not None and tb is not None
    value = {"a": holds(ta, customer, NOW), "b": holds(tb, customer, NOW)}

    def h(definition: dict) -> bool:
        tree, problems = parse(definition)
        assert not problems, problems
        return holds(tree, customer, NOW)  # type: ignore[arg-type]

    assert h({"op": "not", "of": {"op": "and", "of": [a, b]}}) == (not value["a"] or not value["b"])
    assert h({"op": "not", "of": {"op": "or", "of": [a, b]}}) == (not value["a"] and not value["b"])
    assert h({"op": "not", "of": {"op": "not", "of": a}}) == value["a"]
    assert parse(ta.model_dump())[0] == ta


RICH_LEAVES = [
    *LEAVES,
    {"op": "performed", "event": "order.placed", "at_least": 0, "at_most": 1, "within_days": 90},
    {"op": "performed", "event": "review.submitted", "at_least": 1, "within_days": 10},
    {"op": "bought", "category": "coffee"},
    {"op": "bought", "product_id": "p-1", "within_days": 5},
    {"op": "compare", "property": "first_order_at", "cmp": "<=", "value": "2025-06-01"},
    {"op": "compare", "property": "first_order_at", "cmp": "=", "value": "2025-01-05"},
    {"op": "compare", "property": "average_rating", "cmp": ">", "value": 3.5},
    {"op": "compare", "property": "city", "cmp": "!=", "value": "Dortmund"},
    {"op": "consent", "purpose": "advertising", "granted": False},
]
rich_trees = st.recursive(
    st.sampled_from(RICH_LEAVES),
    lambda children: st.one_of(
        st.builds(lambda xs: {"op": "and", "of": xs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda xs: {"op": "or", "of": xs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda x: {"op": "not", "of": x}, children),
    ),
    max_leaves=8,
)
moments = st.floats(0, 400, allow_nan=False).map(lambda days: (NOW - timedelta(days=days)).timestamp())
rich_customers = st.builds(
    CustomerFacts,
    properties=st.fixed_dictionaries(
        {
            "order_count": st.integers(0, 6),
            "rfm_group": st.sampled_from([None, "loyal", "at_risk", "champions"]),
            "first_order_at": st.sampled_from([None, date(2025, 1, 5), date(2025, 9, 1)]),
            "average_rating": st.sampled_from([None, 2.0, 3.5, 4.5]),
            "city": st.sampled_from([None, "Dortmund", "Köln"]),
        }
    ),
    events=st.fixed_dictionaries(
        {
            "order.placed": st.lists(moments, max_size=5).map(sorted),
            "review.submitted": st.lists(moments, max_size=3).map(sorted),
        }
    ),
    purchases=st.fixed_dictionaries(
        {
            "category:coffee": st.lists(moments, max_size=3).map(sorted),
            "product:p-1": st.lists(moments, max_size=2).map(sorted),
        }
    ),
    consents=st.fixed_dictionaries({"marketing": st.booleans()}, optional={"advertising": st.booleans()}),
)


@settings(max_examples=400, deadline=None)
@given(rich_trees, rich_customers)
def test_the_compiled_tree_agrees_with_the_explanation(definition: dict, customer: CustomerFacts) -> None:
    """Membership runs the compiled closures, explain the tree: the same verdict for any tree and customer."""
    tree, problems = parse(definition)
    assert not problems and tree is not None
    assert compile_tree(tree)(customer, NOW.timestamp()) == explain(tree, customer, NOW).held


@pytest.mark.parametrize("segment", DEMO_SEGMENTS, ids=lambda s: s["segment_id"])
def test_the_demo_merchants_starter_segments_are_valid(segment) -> None:
    """`make run` posts these; a definition the API would refuse would leave the demo without it."""
    SegmentCreate.model_validate(segment)
    assert parse(segment["definition"])[1] == []
