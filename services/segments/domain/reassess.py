"""Reassess one customer: lifecycle, RFM, segment memberships and the triggers they set off, with `now` passed in.
Pure: the consumer (after a customer's events) and the scheduled re-evaluation (time passing) both call it, so a
customer ends up in the same segments whichever path saw them last.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from services.common.envelope import ID_PATTERN, Envelope, derived_event_id, new_envelope
from services.segments.domain.membership import (
    Segment,
    current_lifecycle,
    current_rfm,
    customer_facts,
    membership_changes,
)
from services.segments.domain.profiles import Profile
from services.segments.domain.rfm import RfmCuts

_ID = re.compile(ID_PATTERN)
_SLIPPING = ("at_risk", "lapsed")


@dataclass(frozen=True)
class Outcome:
    profile: Profile
    memberships: dict[str, str]
    events: list[Envelope]

    def changed_from(self, profile: Profile, memberships: Mapping[str, str]) -> bool:
        return self.profile != profile or self.memberships != memberships


def reassess(
    merchant_id: str,
    profile: Profile,
    memberships: Mapping[str, str],
    segments: Sequence[Segment],
    cuts: RfmCuts | None,
    now: datetime,
    *,
    cause: str,
    source_id: uuid.UUID,
    only: set[str] | None = None,
    gone: Mapping[str, tuple[str, int]] | None = None,
    daily_for: date | None = None,
) -> Outcome:
    """`only`: evaluate just these segment ids (a changed definition); `gone`: deleted segments (id -> name,
    version) whose members leave; `daily_for`: the day whose birthday and tenure triggers are due (scheduled runs
    crossing midnight)."""
    gone = gone or {}
    lifecycle = current_lifecycle(profile, now) if not profile.erased else profile.lifecycle
    rfm = current_rfm(profile, cuts, now) if not profile.erased else None
    unchanged = lifecycle == profile.lifecycle and rfm == profile.rfm
    updated = profile if unchanged else replace(profile, lifecycle=lifecycle, rfm=rfm)
    events: list[Envelope] = []

    def emit(kind: str, purpose: str, data: dict[str, Any]) -> None:
        event_id = derived_event_id(source_id, f"{kind}:{purpose}:{profile.customer_id}")
        data = {"customer_id": profile.customer_id, **data}
        events.append(new_envelope(kind, merchant_id, data, occurred_at=now, event_id=event_id))

    # Entering "at risk" sets off win-back; so does reaching "lapsed" straight from an active phase (no run saw the
    # customer in between, e.g. after an outage), but never again while they stay away.
    if not profile.erased and lifecycle in _SLIPPING and profile.lifecycle not in _SLIPPING:
        emit("segments.triggered", "win_back", {"trigger": "win_back", "lifecycle": lifecycle})
    if daily_for is not None and not profile.erased:
        _daily(updated, daily_for, emit)

    evaluated = [s for s in segments if only is None or s.segment_id in only]
    known = {s.segment_id for s in segments}
    change = membership_changes(
        evaluated,
        customer_facts(updated, now, lifecycle=lifecycle),
        memberships,
        now,
        erased=profile.erased,
        known=known,
    )
    new_memberships = dict(memberships)
    by_id = {s.segment_id: s for s in segments}
    for segment in change.entered:
        new_memberships[segment.segment_id] = now.isoformat()
        ref = {"segment_id": segment.segment_id, "segment_name": segment.name, "segment_version": segment.version}
        emit("segment.entered", f"{segment.segment_id}:{segment.version}", {**ref, "cause": cause})
        actions = segment.actions
        if actions.trigger:
            lifecycle_now = {"lifecycle": lifecycle}
            trigger = {"trigger": actions.trigger, "segment_id": segment.segment_id, **lifecycle_now}
            emit("segments.triggered", f"{segment.segment_id}:{segment.version}", trigger)
        if actions.award_points:
            request = _request_id(f"seg-{segment.segment_id}-v{segment.version}-{profile.customer_id}")
            award = {"request_id": request, "reason_code": actions.award_reason, "points": actions.award_points,
                     "note": f"Segment {segment.name}"[:500]}  # fmt: skip
            emit("points.award_requested", f"{segment.segment_id}:{segment.version}", award)
    for segment_id in change.exited:
        new_memberships.pop(segment_id, None)
        name, version = (
            (by_id[segment_id].name, by_id[segment_id].version)
            if segment_id in by_id
            else gone.get(segment_id, (segment_id, 1))
        )
        exit_cause = "erasure" if profile.erased else ("segment_deleted" if segment_id not in by_id else cause)
        ref = {"segment_id": segment_id, "segment_name": name, "segment_version": version, "cause": exit_cause}
        emit("segment.exited", f"{segment_id}:{version}", ref)
    return Outcome(updated, new_memberships, events)


def _daily(profile: Profile, day: date, emit: Any) -> None:
    if profile.birthday is not None and _same_day(profile.birthday, day):
        emit("segments.triggered", f"birthday:{day.year}", {"trigger": "birthday", "lifecycle": profile.lifecycle})
        request = _request_id(f"birthday-{day.year}-{profile.customer_id}")
        award = {"request_id": request, "reason_code": "birthday"}
        emit("points.award_requested", f"birthday:{day.year}", award)
    first = profile.orders.first_order_at
    if first is not None and day.year > first.year and _same_day(first.date(), day):
        years = day.year - first.year
        emit(
            "segments.triggered",
            f"tenure:{years}",
            {"trigger": "tenure", "years": years, "lifecycle": profile.lifecycle},
        )


def _same_day(anniversary: date, day: date) -> bool:
    """29 February is celebrated on 28 February in other years."""
    if anniversary.month == 2 and anniversary.day == 29 and not _leap(day.year):
        return (day.month, day.day) == (2, 28)
    return (anniversary.month, anniversary.day) == (day.month, day.day)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _request_id(raw: str) -> str:
    """Ids stay within the contract's pattern and 128 characters: long or odd ones become a stable digest."""
    if _ID.fullmatch(raw):
        return raw
    return "seg-" + hashlib.sha256(raw.encode()).hexdigest()[:40]
