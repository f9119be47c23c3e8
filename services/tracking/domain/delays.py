"""Delay detection: which problems a parcel has right now, and what changed since the last look.

Problems: `delayed` (estimate after the promise, or the promised day passed), `stuck` (no scan for the
carrier's no-movement limit), `exception` (an exception scan or a failed attempt). Each (problem, reason) is
reported once per shipment; a reported problem that no longer holds is cleared once. Pure: `now` is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.tracking.domain.model import Shipment
from services.tracking.domain.promise import DeliveryRules, end_of_day, local_date


@dataclass(frozen=True)
class Change:
    problem: str
    reason: str
    raised: bool  # True: newly reported; False: cleared


def current_problems(shipment: Shipment, rules: DeliveryRules, now: datetime) -> dict[str, str]:
    if shipment.final or shipment.direction == "return":
        return {}  # a parcel without any scan yet can still be late: a label nobody handed over
    problems: dict[str, str] = {}
    promised = shipment.promised_date
    if promised is not None:
        if now >= end_of_day(promised):
            problems["delayed"] = "promise_passed"
        elif shipment.estimated_date is not None and shipment.estimated_date > promised:
            problems["delayed"] = "estimate_after_promise"
    if shipment.last_scan_at is not None and now - shipment.last_scan_at >= rules.no_movement_limit(shipment.carrier):
        problems["stuck"] = "no_movement"
    if shipment.status == "exception":
        problems["exception"] = "exception"
    elif shipment.status == "failed_attempt":
        problems["exception"] = "failed_attempt"
    return problems


def reconcile(shipment: Shipment, rules: DeliveryRules, now: datetime) -> list[Change]:
    """Update the shipment's reported problems to what holds at `now`; return what to announce."""
    changes: list[Change] = []
    found = current_problems(shipment, rules, now)
    for problem, reason in list(shipment.problems.items()):
        if found.get(problem) != reason:
            del shipment.problems[problem]
            changes.append(Change(problem, reason, raised=False))
    for problem, reason in found.items():
        pair = f"{problem}:{reason}"
        if problem in shipment.problems or pair in shipment.reported:
            continue  # still reported, or reported once already and resolved since: once per shipment
        shipment.problems[problem] = reason
        shipment.reported.append(pair)
        changes.append(Change(problem, reason, raised=True))
    return changes


def next_check(shipment: Shipment, rules: DeliveryRules, now: datetime) -> datetime | None:
    """When a time-based problem could next start: the no-movement limit or the end of the promised day.

    Run after `reconcile(…, now)`: whatever was due by `now` is reported by then, so only later times count
    (and a problem reported once is never scheduled again: no check loops on a parcel that stays stuck).
    """
    if shipment.final or shipment.direction == "return":
        return None
    due: list[datetime] = []
    if shipment.last_scan_at is not None and "stuck:no_movement" not in shipment.reported:
        due.append(shipment.last_scan_at + rules.no_movement_limit(shipment.carrier))
    if shipment.promised_date is not None and "delayed:promise_passed" not in shipment.reported:
        due.append(end_of_day(shipment.promised_date))
    later = [d for d in due if d > now]
    return min(later) if later else None


def on_time(shipment: Shipment) -> bool | None:
    if shipment.promised_date is None or shipment.delivered_at is None:
        return None
    return local_date(shipment.delivered_at) <= shipment.promised_date
