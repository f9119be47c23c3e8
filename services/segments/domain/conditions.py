"""Segment definitions as a typed condition tree, validated on save and evaluated with an explanation. Pure.

A definition is JSON a merchant writes (or a UI builds):

    {"op": "and", "of": [
        {"op": "compare", "property": "order_count", "cmp": ">=", "value": 2},
        {"op": "performed", "event": "order.placed", "at_least": 1, "within_days": 90},
        {"op": "not", "of": {"op": "consent", "purpose": "marketing", "granted": false}}]}

Why typed nodes rather than a query language: every node validates on its own (a window of -3 days, an
unknown property, a comparison that does not fit the property's type are refused with the path of the node),
and every node can say why it held for a customer, with the values that decided it (`explain`). The same tree
is what incremental evaluation (one customer, after an event) and the scheduled re-evaluation (time-dependent
nodes: windows, dates) run.
"""

from __future__ import annotations

import operator
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

#: Profile properties a condition may compare, with their type (what `value` must be).
PROPERTIES: dict[str, type] = {
    "order_count": int,
    "revenue_minor": int,
    "average_order_value_minor": int,
    "mean_days_between_orders": float,
    "days_since_last_order": int,
    "review_count": int,
    "average_rating": float,
    "lifecycle": str,
    "acquisition_channel": str,
    "city": str,
    "postcode": str,
    "country": str,
    "tier": str,
    "rfm_group": str,
    "first_order_at": date,
    "last_order_at": date,
    "birthday_month": int,
    "marketing_source": str,
    "open_cart": bool,
    "discount_code_count": int,
    "is_guest": bool,
}
RFM_GROUPS = ("champions", "loyal", "potential_loyalists", "at_risk", "cant_lose", "hibernating", "lost")
ORDERING = ("<", "<=", ">", ">=")
Days = Annotated[int, Field(ge=1, le=3650)]


class Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class And(Node):
    op: Literal["and"]
    of: list[Condition] = Field(min_length=1, max_length=50)


class Or(Node):
    op: Literal["or"]
    of: list[Condition] = Field(min_length=1, max_length=50)


class Not(Node):
    op: Literal["not"]
    of: Condition


class Compare(Node):
    """A profile property against a value: `=`, `!=`, orderings for numbers and dates, `in` for a list."""

    op: Literal["compare"]
    property: str
    cmp: Literal["=", "!=", "<", "<=", ">", ">=", "in"]
    value: Any

    @field_validator("property")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in PROPERTIES:
            raise ValueError(f"unknown property `{name}`; known: {', '.join(sorted(PROPERTIES))}")
        return name

    @model_validator(mode="after")
    def _fits(self) -> Compare:
        kind = PROPERTIES[self.property]
        if self.cmp in ORDERING and kind is str:
            raise ValueError(f"`{self.cmp}` does not apply to the text property `{self.property}`")
        values = self.value if self.cmp == "in" else [self.value]
        if self.cmp == "in" and not (isinstance(self.value, list) and 1 <= len(self.value) <= 500):
            raise ValueError("`in` needs a list of 1 to 500 values")
        for v in values:
            if not _fits(kind, v):
                raise ValueError(f"`{self.property}` is a {kind.__name__}; {v!r} is not")
        return self


class Performed(Node):
    """An event of the customer's at least (or at most) N times within the last D days."""

    op: Literal["performed"]
    event: Literal[
        "order.placed", "order.cancelled", "order.returned", "order.refunded", "review.submitted",
        "cart.updated", "cart.checked_out", "tracking.order_delivered", "loyalty.reward_redeemed",
    ]  # fmt: skip
    at_least: Annotated[int, Field(ge=0, le=10_000)] = 1
    at_most: Annotated[int, Field(ge=0, le=10_000)] | None = None
    within_days: Days

    @model_validator(mode="after")
    def _range(self) -> Performed:
        if self.at_most is not None and self.at_most < self.at_least:
            raise ValueError("at_most is below at_least")
        return self


class Bought(Node):
    """Bought a product or something of a category, ever or within the last D days."""

    op: Literal["bought"]
    category: str | None = Field(None, min_length=1, max_length=100)
    product_id: str | None = Field(None, min_length=1, max_length=128)
    within_days: Days | None = None

    @model_validator(mode="after")
    def _one(self) -> Bought:
        if (self.category is None) == (self.product_id is None):
            raise ValueError("name either a category or a product_id")
        return self


class InRfmGroup(Node):
    op: Literal["rfm_group"]
    groups: list[Literal[RFM_GROUPS]] = Field(min_length=1)  # type: ignore[valid-type]


class HasConsent(Node):
    op: Literal["consent"]
    purpose: Literal["marketing", "advertising", "review_requests", "analytics"]
    granted: bool = True


Condition = Annotated[
    And | Or | Not | Compare | Performed | Bought | InRfmGroup | HasConsent, Field(discriminator="op")
]
CONDITION = TypeAdapter(Condition)
#: Deeper trees are refused: nobody means 20 levels, and evaluation stays cheap.
MAX_DEPTH = 12
DAY_S = 86_400


@dataclass(frozen=True)
class CustomerFacts:
    """What a condition can see of one customer (built from the profile by the adapter)."""

    properties: dict[str, Any]
    #: Event type -> when (epoch seconds), oldest first (the profile keeps a bounded window).
    events: dict[str, list[float]] = field(default_factory=dict)
    #: "category:<name>" / "product:<id>" -> when bought (epoch seconds), oldest first.
    purchases: dict[str, list[float]] = field(default_factory=dict)
    consents: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class Explanation:
    held: bool
    because: str
    path: str = ""
    parts: tuple[Explanation, ...] = ()

    def lines(self, indent: int = 0) -> list[str]:
        mark = "✓" if self.held else "✗"
        out = [f"{'  ' * indent}{mark} {self.because}"]
        for part in self.parts:
            out += part.lines(indent + 1)
        return out


@dataclass(frozen=True)
class DefinitionProblem:
    path: str
    message: str


def parse(definition: Any) -> tuple[Condition | None, list[DefinitionProblem]]:
    """A definition from JSON, or the problems with the path of each bad node (e.g. `of[1].within_days`)."""
    from pydantic import ValidationError

    try:
        tree = CONDITION.validate_python(definition)
    except ValidationError as exc:
        problems = [DefinitionProblem(_path(e["loc"]), e["msg"].removeprefix("Value error, ")) for e in exc.errors()]
        return None, problems
    if depth(tree) > MAX_DEPTH:
        return None, [DefinitionProblem("", f"nested deeper than {MAX_DEPTH} levels")]
    return tree, []


def depth(node: Condition) -> int:
    if isinstance(node, And | Or):
        return 1 + max(depth(child) for child in node.of)
    if isinstance(node, Not):
        return 1 + depth(node.of)
    return 1


def time_dependent(node: Condition) -> bool:
    """Whether membership can change with nothing but time passing (the scheduled re-evaluation runs these)."""
    if isinstance(node, And | Or):
        return any(time_dependent(child) for child in node.of)
    if isinstance(node, Not):
        return time_dependent(node.of)
    if isinstance(node, Compare):
        return node.property in ("days_since_last_order", "rfm_group", "lifecycle")
    if isinstance(node, InRfmGroup):
        return True  # scores move as the merchant's other buyers order, and recency with the calendar
    return isinstance(node, Performed) or (isinstance(node, Bought) and node.within_days is not None)


def explain(node: Condition, facts: CustomerFacts, now: datetime, path: str = "") -> Explanation:
    """Whether the customer meets the condition, node by node, with the values that decided it."""
    if isinstance(node, And | Or):
        parts = tuple(explain(child, facts, now, f"{path}.of[{i}]".lstrip(".")) for i, child in enumerate(node.of))
        held = all(p.held for p in parts) if isinstance(node, And) else any(p.held for p in parts)
        count = sum(p.held for p in parts)
        return Explanation(held, f"{node.op}: {count} of {len(parts)} hold", path, parts)
    if isinstance(node, Not):
        inner = explain(node.of, facts, now, f"{path}.of".lstrip("."))
        return Explanation(not inner.held, "not", path, (inner,))
    if isinstance(node, Compare):
        actual = facts.properties.get(node.property)
        held = _compare(actual, node.cmp, node.value)
        return Explanation(held, f"{node.property} is {actual!r}, wanted {node.cmp} {node.value!r}", path)
    if isinstance(node, Performed):
        until = now.timestamp()
        since = until - node.within_days * DAY_S
        count = sum(1 for t in facts.events.get(node.event, ()) if since < t <= until)
        held = count >= node.at_least and (node.at_most is None or count <= node.at_most)
        wanted = f"at least {node.at_least}" + (f", at most {node.at_most}" if node.at_most is not None else "")
        return Explanation(held, f"{node.event} {count} times in {node.within_days} days, wanted {wanted}", path)
    if isinstance(node, Bought):
        key = f"category:{node.category}" if node.category else f"product:{node.product_id}"
        times = facts.purchases.get(key, [])
        if node.within_days is not None:
            until = now.timestamp()
            times = [t for t in times if until - node.within_days * DAY_S < t <= until]
        window = f" in {node.within_days} days" if node.within_days else ""
        return Explanation(bool(times), f"bought {key} {len(times)} times{window}", path)
    if isinstance(node, InRfmGroup):
        group = facts.properties.get("rfm_group")
        return Explanation(group in node.groups, f"RFM group is {group!r}, wanted one of {node.groups}", path)
    if isinstance(node, HasConsent):
        given = facts.consents.get(node.purpose, False)
        return Explanation(given == node.granted, f"{node.purpose} consent is {given}, wanted {node.granted}", path)
    raise AssertionError(f"unhandled node {node!r}")


def holds(node: Condition, facts: CustomerFacts, now: datetime) -> bool:
    return explain(node, facts, now).held


#: A compiled condition: (facts, now as epoch seconds) -> held.
Predicate = Callable[[CustomerFacts, float], bool]


def compile_tree(node: Condition) -> Predicate:
    """The same verdict as `explain(...).held`, as closures built once per definition version: membership checks
    every customer against every segment, and building explanations there was most of a batch's evaluation time.
    A property test holds the two to the same answers."""
    if isinstance(node, And | Or):
        parts = tuple(compile_tree(child) for child in node.of)
        if isinstance(node, And):
            return lambda f, now: all(p(f, now) for p in parts)
        return lambda f, now: any(p(f, now) for p in parts)
    if isinstance(node, Not):
        inner = compile_tree(node.of)
        return lambda f, now: not inner(f, now)
    if isinstance(node, Compare):
        return _compiled_compare(node)
    if isinstance(node, Performed):
        event, window, low, high = node.event, node.within_days * DAY_S, node.at_least, node.at_most

        def performed(f: CustomerFacts, now: float) -> bool:
            times = f.events.get(event)
            if not times:
                return low == 0
            count = bisect_right(times, now) - bisect_right(times, now - window)  # times are sorted
            return count >= low and (high is None or count <= high)

        return performed
    if isinstance(node, Bought):
        key = f"category:{node.category}" if node.category else f"product:{node.product_id}"
        if node.within_days is None:
            return lambda f, now: bool(f.purchases.get(key))
        window = node.within_days * DAY_S

        def bought(f: CustomerFacts, now: float) -> bool:
            times = f.purchases.get(key)
            return bool(times) and bisect_right(times, now) > bisect_right(times, now - window)

        return bought
    if isinstance(node, InRfmGroup):
        groups = frozenset(node.groups)
        return lambda f, now: f.properties.get("rfm_group") in groups
    if isinstance(node, HasConsent):
        purpose, granted = node.purpose, node.granted
        return lambda f, now: f.consents.get(purpose, False) == granted
    raise AssertionError(f"unhandled node {node!r}")


def _compiled_compare(node: Compare) -> Predicate:
    prop, cmp = node.property, node.cmp
    if cmp == "in":
        wanted_in = node.value
        return lambda f, now: f.properties.get(prop) in wanted_in
    wanted = date.fromisoformat(node.value) if PROPERTIES[prop] is date else node.value
    if cmp == "=":
        return lambda f, now: f.properties.get(prop) == wanted
    if cmp == "!=":
        return lambda f, now: f.properties.get(prop) != wanted
    test = _ORDERINGS[cmp]

    def ordered(f: CustomerFacts, now: float) -> bool:
        actual = f.properties.get(prop)
        return actual is not None and test(actual, wanted)

    return ordered


_ORDERINGS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _compare(actual: Any, cmp: str, wanted: Any) -> bool:
    if cmp == "in":
        return actual in wanted
    if cmp == "=":
        return actual == _as(actual, wanted)
    if cmp == "!=":
        return actual != _as(actual, wanted)
    if actual is None:
        return False  # unknown never satisfies an ordering: "spent more than 100" is false for a prospect
    wanted = _as(actual, wanted)
    return {"<": actual < wanted, "<=": actual <= wanted, ">": actual > wanted, ">=": actual >= wanted}[cmp]


def _as(actual: Any, wanted: Any) -> Any:
    if isinstance(actual, date) and isinstance(wanted, str):
        return date.fromisoformat(wanted)
    return wanted


def _fits(kind: type, value: Any) -> bool:
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is bool:
        return isinstance(value, bool)
    if kind is date:
        try:
            date.fromisoformat(value)
        except (TypeError, ValueError):
            return False
        return True
    return isinstance(value, kind)


def _path(loc: tuple[Any, ...]) -> str:
    """pydantic's location without the union tags: ('and', 'of', 1, 'performed', 'within_days') -> of[1].within_days."""
    tags = {"and", "or", "not", "compare", "performed", "bought", "rfm_group", "consent"}
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in tags:
            out += f".{part}" if out else str(part)
    return out


for _model in (And, Or, Not):
    _model.model_rebuild()
