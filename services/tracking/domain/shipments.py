"""Pure shipment state machine: the newest scan decides, and nothing moves a shipment backwards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

#: A parcel that reached one of these stays there, whatever scans arrive later.
FINAL = frozenset({"delivered", "returned_to_sender", "lost"})
#: The label scan only ever starts a timeline; a late one never overrides real movement.
INITIAL = "label_created"
#: A code no adapter understood is kept on the timeline but says nothing about the state.
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Transition:
    from_status: str | None
    to_status: str


def next_status(current: str | None, current_at: datetime | None, scan: str, scanned_at: datetime) -> Transition | None:
    """The transition a scan causes, or None when it is a duplicate, stale or out-of-order scan.

    Monotonic by event time: only a scan newer than the one that set the current state moves it, so
    out_for_delivery → failed_attempt → out_for_delivery (a second attempt) works, while a late-arriving
    older in_transit scan after out_for_delivery is history only.
    """
    if current is None:
        return None if scan == UNKNOWN else Transition(None, scan)
    if current in FINAL or scan in (current, UNKNOWN, INITIAL):
        return None
    if current_at is not None and scanned_at <= current_at:
        return None
    return Transition(current, scan)
