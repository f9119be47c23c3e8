"""Pure shipment state machine: scans move a shipment forward, never backwards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

#: Progress order of the normal path; a scan with a lower rank than the current state is history only.
RANK = {
    "unknown": 0,
    "label_created": 1,
    "in_transit": 2,
    "failed_attempt": 3,
    "exception": 3,
    "out_for_delivery": 4,
    "delivered": 5,
    "returned_to_sender": 5,
    "lost": 5,
}
FINAL = frozenset({"delivered", "returned_to_sender", "lost"})


@dataclass(frozen=True)
class Transition:
    from_status: str | None
    to_status: str


def next_status(current: str | None, current_at: datetime | None, scan: str, scanned_at: datetime) -> Transition | None:
    """The transition a scan causes, or None when it is a duplicate, stale or out-of-order scan."""
    if current is None:
        return Transition(None, scan)
    if current in FINAL or scan == current:
        return None
    if RANK.get(scan, 0) < RANK.get(current, 0):
        return None
    if RANK.get(scan, 0) == RANK.get(current, 0) and current_at is not None and scanned_at <= current_at:
        return None
    return Transition(current, scan)
