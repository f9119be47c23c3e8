"""The loyalty state the rules decide on: ledger entries, customer accounts, orders. Pure data, no I/O.

Balances are a fold over entries (`Account.apply`); the adapter persists the folded account next to
the entries in one transaction, and tests check the fold equals the ledger's sums.
"""

from __future__ import annotations

import uuid
from bisect import bisect_left, insort
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from operator import itemgetter
from typing import Any, Literal

Bucket = Literal["available", "pending"]

#: Entry kinds that add to what a customer earned (lifetime and tier qualification).
EARNING_KINDS = frozenset({"confirm", "bonus", "goodwill", "award", "earn"})  # earn: before pending points
#: Kinds that take earned points back (a return, refund or cancellation after confirmation).
REVERSAL_KINDS = frozenset({"reversal", "pending_reversal", "pending_void"})

_NAMESPACE = uuid.UUID("6f1c1a9e-3c55-4d2b-9a57-0d4b7e1f2c3a")


def stable_id(*parts: object) -> uuid.UUID:
    """A deterministic id from natural keys (e.g. the goodwill of one shipment), for idempotent entries."""
    return uuid.uuid5(_NAMESPACE, "\x1f".join(str(p) for p in parts))


@dataclass(frozen=True)
class Entry:
    entry_id: uuid.UUID
    customer_id: str
    kind: str
    bucket: Bucket
    points: int
    reason_code: str
    source_event_id: uuid.UUID
    source_type: str
    occurred_at: datetime
    rule_version: int
    order_id: str | None = None
    reverses_entry_id: uuid.UUID | None = None
    #: Points a reversal could not take because the balance was too small (settled from future earnings).
    shortfall: int = 0
    shipment_id: str | None = None
    note: str | None = None


@dataclass
class Account:
    customer_id: str
    available: int = 0
    pending: int = 0
    lifetime_earned: int = 0
    redeemed: int = 0
    expired: int = 0
    reversed: int = 0
    #: Points owed from reversals larger than the balance; future earnings settle it first.
    debt: int = 0
    tier: str | None = None
    tier_since: datetime | None = None
    tier_review_at: datetime | None = None
    membership_plan: str | None = None
    membership_status: str | None = None
    membership_until: datetime | None = None
    signed_up_at: datetime | None = None
    birthday: date | None = None
    first_order_at: datetime | None = None
    first_order_id: str | None = None
    referred_by: str | None = None
    last_activity_at: datetime | None = None
    erased_at: datetime | None = None
    #: [[iso timestamp, confirmed points, spend_minor, granted points], ...] of the last ~2 years: tier
    #: qualification (confirmed points or spend) and per-period caps (granted points, pending included).
    activity: list[list[Any]] = field(default_factory=list)

    def apply(self, entry: Entry) -> None:
        """Fold one entry into the balances (the only place balances change)."""
        if entry.bucket == "pending":
            self.pending += entry.points
        else:
            self.available += entry.points
        if entry.kind in EARNING_KINDS and entry.points > 0:
            self.lifetime_earned += entry.points
        elif entry.kind == "redeem":
            self.redeemed -= entry.points
        elif entry.kind == "expire":
            self.expired -= entry.points
        elif entry.kind in ("reversal", "debt_settlement"):
            self.reversed -= entry.points

    def record_activity(self, at: datetime, points: int = 0, spend_minor: int = 0, granted: int = 0) -> None:
        # Kept sorted by time (events may arrive late), so window sums are two binary searches, not a scan of
        # two years of activity for every order (that scan was ~9% of a batch in `make bench-kernel`).
        if points or spend_minor or granted:
            insort(self.activity, [at.isoformat(), points, spend_minor, granted], key=_stamp)
        keep_from = bisect_left(self.activity, (at - timedelta(days=800)).isoformat(), key=_stamp)
        if keep_from:
            del self.activity[:keep_from]

    def qualifying(self, basis: str, start: datetime, end: datetime) -> int:
        column = _ACTIVITY_COLUMNS[basis]
        lo = bisect_left(self.activity, start.isoformat(), key=_stamp)
        hi = bisect_left(self.activity, end.isoformat(), lo=lo, key=_stamp)
        return max(0, sum(a[column] for a in self.activity[lo:hi]))


_ACTIVITY_COLUMNS = {"points": 1, "spend": 2, "granted": 3}
_stamp = itemgetter(0)


@dataclass
class OrderLine:
    line_id: str
    quantity: int
    points: int
    eligible_minor: int
    category: str
    sku: str


@dataclass
class Order:
    order_id: str
    customer_id: str
    lines: dict[str, OrderLine] = field(default_factory=dict)
    placed: bool = False
    order_number: str | None = None
    currency: str | None = None
    placed_at: datetime | None = None
    paid_at: datetime | None = None
    paid_event_id: uuid.UUID | None = None
    delivered_at: datetime | None = None
    cancelled_at: datetime | None = None
    #: The pending entry of the purchase points (the entry every later reversal points at).
    earn_entry_id: uuid.UUID | None = None
    earn_points: int = 0
    rule_version: int = 0
    confirmed_at: datetime | None = None
    confirm_entry_id: uuid.UUID | None = None
    #: Quantities per line that came back (goods) and that were refunded (money). A unit is reversed once,
    #: when the first of the two arrives: `reversed_qty` = max(returned, refunded) per line.
    returned_qty: dict[str, int] = field(default_factory=dict)
    refunded_qty: dict[str, int] = field(default_factory=dict)
    reversed_qty: dict[str, int] = field(default_factory=dict)
    #: Points already taken back (from pending or available), per line.
    reversed_points: dict[str, int] = field(default_factory=dict)

    @property
    def remaining_points(self) -> int:
        return self.earn_points - sum(self.reversed_points.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "lines": {k: vars(v) for k, v in self.lines.items()},
            "placed": self.placed,
            "order_number": self.order_number,
            "currency": self.currency,
            "placed_at": _iso(self.placed_at),
            "paid_at": _iso(self.paid_at),
            "paid_event_id": str(self.paid_event_id) if self.paid_event_id else None,
            "delivered_at": _iso(self.delivered_at),
            "cancelled_at": _iso(self.cancelled_at),
            "earn_entry_id": str(self.earn_entry_id) if self.earn_entry_id else None,
            "earn_points": self.earn_points,
            "rule_version": self.rule_version,
            "confirmed_at": _iso(self.confirmed_at),
            "confirm_entry_id": str(self.confirm_entry_id) if self.confirm_entry_id else None,
            "returned_qty": self.returned_qty,
            "refunded_qty": self.refunded_qty,
            "reversed_qty": self.reversed_qty,
            "reversed_points": self.reversed_points,
        }

    @classmethod
    def from_json(cls, order_id: str, customer_id: str, doc: dict[str, Any]) -> Order:
        return cls(
            order_id=order_id,
            customer_id=customer_id,
            lines={k: OrderLine(**v) for k, v in doc.get("lines", {}).items()},
            placed=doc.get("placed", False),
            order_number=doc.get("order_number"),
            currency=doc.get("currency"),
            placed_at=_dt(doc.get("placed_at")),
            paid_at=_dt(doc.get("paid_at")),
            paid_event_id=_uuid(doc.get("paid_event_id")),
            delivered_at=_dt(doc.get("delivered_at")),
            cancelled_at=_dt(doc.get("cancelled_at")),
            earn_entry_id=_uuid(doc.get("earn_entry_id")),
            earn_points=doc.get("earn_points", 0),
            rule_version=doc.get("rule_version", 0),
            confirmed_at=_dt(doc.get("confirmed_at")),
            confirm_entry_id=_uuid(doc.get("confirm_entry_id")),
            returned_qty=dict(doc.get("returned_qty", {})),
            refunded_qty=dict(doc.get("refunded_qty", {})),
            reversed_qty=dict(doc.get("reversed_qty", {})),
            reversed_points=dict(doc.get("reversed_points", {})),
        )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None
