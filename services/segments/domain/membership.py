"""Who is in which segment: a customer's facts against the merchant's segment definitions, with `now` passed in. Pure.

The same function serves the incremental path (the customers one batch of events touched) and the scheduled
path (every customer, for time-dependent definitions), so both always agree; a property test holds them to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.segments.domain.conditions import Condition, CustomerFacts, Predicate, compile_tree, parse, time_dependent
from services.segments.domain.lifecycle import LifecycleRules, phase
from services.segments.domain.profiles import Profile
from services.segments.domain.rfm import RfmCuts


class SegmentActions(BaseModel):
    """What entering the segment sets off, besides `segment.entered`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: A named trigger other services act on (`segments.triggered`).
    trigger: Literal["vip_promotion", "win_back", "campaign"] | None = None
    #: Points loyalty credits once per customer and segment version (`points.award_requested`).
    award_points: int | None = Field(None, ge=1, le=1_000_000)
    award_reason: Literal["vip", "campaign"] = "vip"


NO_ACTIONS = SegmentActions()


@dataclass(frozen=True)
class Segment:
    segment_id: str
    version: int
    name: str
    tree: Condition
    actions: SegmentActions = NO_ACTIONS
    #: The tree compiled once per version (`compile_tree`); membership runs this, `explain` the tree.
    holds: Predicate = field(init=False, repr=False, compare=False)
    time_dependent: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "holds", compile_tree(self.tree))
        object.__setattr__(self, "time_dependent", time_dependent(self.tree))

    @classmethod
    def from_stored(cls, segment_id: str, version: int, name: str, definition: Any, actions: Any) -> Segment:
        tree, problems = parse(definition)
        if tree is None:  # stored definitions were validated on save; a failure here is a bug
            raise ValueError(f"stored segment {segment_id} v{version} is invalid: {problems}")
        return cls(segment_id, version, name, tree, SegmentActions.model_validate(actions or {}))


@dataclass(frozen=True)
class MembershipChange:
    entered: tuple[Segment, ...]
    exited: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.entered or self.exited)


def customer_facts(
    profile: Profile, now: datetime, rules: LifecycleRules = LifecycleRules(), *, lifecycle: str | None = None
) -> CustomerFacts:
    """The properties a condition can see, computed for `now` (days since the last order, lifecycle, RFM).
    `lifecycle`: the phase for `now` when the caller has just computed it."""
    o = profile.orders
    rfm_group = profile.rfm[3] if profile.rfm else None
    properties: dict[str, Any] = {
        "order_count": o.order_count,
        "revenue_minor": o.revenue_minor,
        "average_order_value_minor": o.revenue_minor // o.order_count if o.order_count else 0,
        "mean_days_between_orders": o.mean_days_between_orders,
        "days_since_last_order": (now - o.last_order_at).days if o.last_order_at else None,
        "review_count": profile.review_count,
        "average_rating": profile.average_rating,
        "lifecycle": lifecycle or current_lifecycle(profile, now, rules),
        "acquisition_channel": o.acquisition_channel,
        "city": profile.city,
        "postcode": profile.postcode,
        "country": profile.country,
        "tier": profile.tier,
        "rfm_group": rfm_group,
        "first_order_at": o.first_order_at.date() if o.first_order_at else None,
        "last_order_at": o.last_order_at.date() if o.last_order_at else None,
        "birthday_month": profile.birthday.month if profile.birthday else None,
        "marketing_source": profile.marketing_source,
        "open_cart": profile.open_cart,
        "discount_code_count": len(o.discount_codes),
        "is_guest": profile.person.get("is_guest"),
    }
    return CustomerFacts(properties, profile.events, o.purchases, profile.consents)


def current_lifecycle(profile: Profile, now: datetime, rules: LifecycleRules = LifecycleRules()) -> str:
    o = profile.orders
    return phase(
        o.order_count,
        o.last_order_at,
        o.mean_days_between_orders,
        now,
        open_cart=profile.open_cart,
        previous_gap_days=o.previous_gap_days,
        rules=rules,
    )


def current_rfm(profile: Profile, cuts: RfmCuts | None, now: datetime) -> tuple[int, int, int, str] | None:
    o = profile.orders
    if cuts is None or o.last_order_at is None:
        return None
    r = cuts.score(o.last_order_at, o.order_count, o.revenue_minor, now)
    return (r.recency, r.frequency, r.monetary, r.group)


def membership_changes(
    segments: Iterable[Segment],
    facts: CustomerFacts,
    current: Mapping[str, Any],
    now: datetime,
    *,
    erased: bool = False,
    known: Iterable[str] | None = None,
) -> MembershipChange:
    """Segments entered and left. `known`: every live segment id of the merchant; memberships of others are left
    (a deleted segment). An erased customer belongs to no segment."""
    entered, exited = [], []
    evaluated = set()
    at = now.timestamp()
    for segment in segments:
        evaluated.add(segment.segment_id)
        member = not erased and segment.holds(facts, at)
        if member and segment.segment_id not in current:
            entered.append(segment)
        elif not member and segment.segment_id in current:
            exited.append(segment.segment_id)
    live = set(known) if known is not None else None
    for segment_id in current:
        if segment_id not in evaluated and (erased or (live is not None and segment_id not in live)):
            exited.append(segment_id)
    return MembershipChange(tuple(entered), tuple(sorted(exited)))
