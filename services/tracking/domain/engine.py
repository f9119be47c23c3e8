"""Tracking's rules: shipments, scans and scheduled checks in; state, problems and events out.

The adapter loads a `Board` (the shipments and orders a batch touches), these functions change it, and the
adapter writes it back with the emitted events and (re)scheduled checks in one transaction. Tests run the
same functions on a `Board` in memory. Decisions never read the clock: `now` is the event's time or the job's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from services.common.envelope import Envelope, derived_event_id, new_envelope
from services.tracking.domain import delays
from services.tracking.domain.model import OrderFacts, Shipment
from services.tracking.domain.promise import DeliveryRules, TransitTime, estimate, promised_by_rules
from services.tracking.domain.shipments import next_status

CHECK_JOB = "check_shipment"
_NAMESPACE = uuid.UUID("8a6f3f1e-3c55-4b8e-9a53-1c0f3e2b7d10")

#: Which message of the notification catalogue a reported problem asks for.
PROBLEM_MESSAGE = {"delayed": "delay_apology", "exception": "delivery_exception"}


@dataclass
class Board:
    shipments: dict[tuple[str, str], Shipment] = field(default_factory=dict)
    orders: dict[tuple[str, str], OrderFacts] = field(default_factory=dict)
    emitted: list[Envelope] = field(default_factory=list)
    #: shipment key -> when to look at it next (None: no check needed any more).
    checks: dict[tuple[str, str], datetime | None] = field(default_factory=dict)
    #: Problem log rows: (merchant, shipment, carrier, problem, reason, raised, at).
    problem_log: list[tuple[str, str, str, str, str, bool, datetime]] = field(default_factory=list)
    #: Scans whose carrier code no adapter knew: (merchant, carrier), counted by the adapter.
    unknown_codes: list[tuple[str, str]] = field(default_factory=list)
    dirty: set[tuple[str, str]] = field(default_factory=set)
    dirty_orders: set[tuple[str, str]] = field(default_factory=set)
    #: (merchant, order) -> the customer's public tracking page, for the links in notifications.
    link_for: Callable[[str, str], str] | None = None
    _by_order: dict[tuple[str, str], list[Shipment]] | None = None
    _indexed: set[tuple[str, str]] = field(default_factory=set)

    def shipment(self, merchant_id: str, shipment_id: str, order_id: str, carrier: str) -> Shipment:
        key = (merchant_id, shipment_id)
        if key not in self.shipments:
            self.shipments[key] = Shipment(merchant_id, shipment_id, order_id, carrier)
        self.dirty.add(key)
        return self.shipments[key]

    def parcels_of(self, merchant_id: str, order_id: str) -> list[Shipment]:
        """The order's parcels on the board (an index built once: delivered scans ask for every order)."""
        if self._by_order is None or len(self._indexed) != len(self.shipments):
            self._by_order = {}
            for (m, _), s in self.shipments.items():
                self._by_order.setdefault((m, s.order_id), []).append(s)
            self._indexed = set(self.shipments)
        return self._by_order.get((merchant_id, order_id), [])

    def order(self, merchant_id: str, order_id: str) -> OrderFacts:
        key = (merchant_id, order_id)
        if key not in self.orders:
            self.orders[key] = OrderFacts(merchant_id, order_id)
        self.dirty_orders.add(key)
        return self.orders[key]

    def emit(self, event_type: str, merchant_id: str, data: dict[str, Any], *, cause: uuid.UUID, at: datetime) -> None:
        # Absent optional facts are left out; `from_status` is the one field whose null is a fact (first scan).
        clean = {k: v for k, v in data.items() if v is not None or k == "from_status"}
        event_id = derived_event_id(cause, event_type)
        self.emitted.append(new_envelope(event_type, merchant_id, clean, occurred_at=at, event_id=event_id))

    def notify(self, s: Shipment, message: str, trigger: str, at: datetime, **variables: Any) -> None:
        """Ask notifications to tell the customer; it decides consent, timing, wording and deduplication."""
        if s.customer_id is None or s.direction != "outbound":
            return
        facts = {
            "carrier": s.carrier,
            "tracking_number": s.tracking_number,
            "tracking_url": s.tracking_url,
            "tracking_page_url": self.link_for(s.merchant_id, s.order_id) if self.link_for else None,
            "estimated_delivery_date": _iso(s.estimated_date),
            "promised_delivery_date": _iso(s.promised_date),
            **variables,
        }
        data = {
            "customer_id": s.customer_id,
            "message": message,
            "category": "transactional",
            "trigger_id": f"tracking:{trigger}:{s.shipment_id}",
            "order_id": s.order_id,
            "shipment_id": s.shipment_id,
            "variables": {k: v for k, v in facts.items() if v is not None},
        }
        cause = uuid.uuid5(_NAMESPACE, f"{s.merchant_id}\x1f{data['trigger_id']}")
        self.emit("notification.requested", s.merchant_id, data, cause=cause, at=at)


RulesFor = Callable[[str], DeliveryRules]
TransitFor = Callable[[Shipment], TransitTime | None]


def handle(board: Board, event: Envelope, rules_for: RulesFor, transit_for: TransitFor) -> None:
    if event.type == "order.placed":
        _on_order_placed(board, event)
    elif event.type == "shipment.created":
        _on_created(board, event, rules_for(event.merchant_id), transit_for)
    elif event.type == "shipment.status_updated":
        _on_scan(board, event, rules_for(event.merchant_id), transit_for)


def check(board: Board, s: Shipment, rules: DeliveryRules, transit: TransitTime | None, now: datetime) -> None:
    """The scheduled look at a parcel: the estimate moves with the clock, time-based problems start."""
    board.dirty.add((s.merchant_id, s.shipment_id))
    _refresh(board, s, rules, transit, now, cause=uuid.uuid5(_NAMESPACE, f"check\x1f{s.shipment_id}\x1f{now}"))


def _on_order_placed(board: Board, event: Envelope) -> None:
    d = event.data
    order = board.order(event.merchant_id, d["order_id"])
    order.customer_id, order.order_number = d["customer_id"], d["order_number"]
    order.line_ids = [line["line_id"] for line in d["lines"]]
    address = d.get("shipping_address") or {}
    order.country, order.postcode = address.get("country"), address.get("postcode")
    _maybe_order_delivered(board, order, event)


def _on_created(board: Board, event: Envelope, rules: DeliveryRules, transit_for: TransitFor) -> None:
    d = event.data
    s = board.shipment(event.merchant_id, d["shipment_id"], d["order_id"], d["carrier"])
    order = board.orders.get((event.merchant_id, d["order_id"]))
    destination = d.get("destination") or {}
    s.customer_id = d["customer_id"]
    s.carrier, s.tracking_number, s.tracking_url = d["carrier"], d["tracking_number"], d.get("tracking_url")
    s.service_level, s.direction = d["service_level"], d.get("direction", "outbound")
    s.line_ids, s.return_lines = list(d["line_ids"]), list(d.get("return_lines") or [])
    s.country = destination.get("country") or (order.country if order else None)
    s.postcode = destination.get("postcode") or (order.postcode if order else None)
    if d.get("shipped_at"):
        s.shipped_at = datetime.fromisoformat(d["shipped_at"])
    if d.get("promised_delivery_date"):
        s.promised_date, s.promise_source = date.fromisoformat(d["promised_delivery_date"]), "shop"
    elif s.direction == "outbound":
        s.promised_date = promised_by_rules(s, rules, s.started_at or event.occurred_at)
        s.promise_source = "rules"
    first_announcement = not s.announced
    s.announced = True
    _refresh(board, s, rules, transit_for(s), event.occurred_at, cause=event.event_id)
    if first_announcement:
        board.notify(s, "shipped", "shipped", event.occurred_at)


def _on_scan(board: Board, event: Envelope, rules: DeliveryRules, transit_for: TransitFor) -> None:
    d = event.data
    s = board.shipment(event.merchant_id, d["shipment_id"], d["order_id"], d["carrier"])
    scanned_at = datetime.fromisoformat(d["scanned_at"])
    if d["status"] == "unknown":
        board.unknown_codes.append((event.merchant_id, d["carrier"]))
    if s.customer_id is None and d.get("customer_id"):
        s.customer_id = d["customer_id"]
    s.tracking_number = s.tracking_number or d.get("tracking_number")
    s.first_scan_at = min(filter(None, (s.first_scan_at, scanned_at)))
    newest = s.last_scan_at is None or scanned_at >= s.last_scan_at
    s.last_scan_at = max(filter(None, (s.last_scan_at, scanned_at)))
    if newest and d.get("estimated_delivery_date"):
        s.carrier_estimate = date.fromisoformat(d["estimated_delivery_date"])
    if s.promised_date is None and s.direction == "outbound" and s.announced:
        s.promised_date, s.promise_source = promised_by_rules(s, rules, s.started_at or scanned_at), "rules"
    transition = next_status(s.status, s.status_at, d["status"], scanned_at)
    transit = transit_for(s)
    if transition is not None:
        s.status, s.status_at, s.raw_status_code = transition.to_status, scanned_at, d["raw_status_code"]
        s.exception_reason = d.get("exception_reason") if transition.to_status == "exception" else None
        if transition.to_status == "delivered":
            s.delivered_at = scanned_at
        s.estimated_date, _ = estimate(s, rules, transit, scanned_at)
        board.emit(
            "tracking.shipment_status_changed",
            s.merchant_id,
            {
                **_parcel(s),
                "tracking_number": s.tracking_number,
                "from_status": transition.from_status,
                "to_status": transition.to_status,
                "exception_reason": s.exception_reason,
                "raw_status_code": s.raw_status_code,
                "estimated_delivery_date": _iso(s.estimated_date),
                "scanned_at": scanned_at.isoformat(),
            },
            cause=event.event_id,
            at=scanned_at,
        )
        _after_transition(board, s, event, scanned_at)
    _refresh(board, s, rules, transit, scanned_at, cause=event.event_id, estimated=transition is not None)


def _after_transition(board: Board, s: Shipment, event: Envelope, at: datetime) -> None:
    if s.status == "out_for_delivery":
        board.notify(s, "out_for_delivery", f"out_for_delivery:{at.date()}", at)
    elif s.status == "delivered" and s.direction == "return":
        _returned(board, s, event, at)
    elif s.status == "delivered":
        transit_hours = (at - s.started_at).total_seconds() / 3600 if s.started_at else None
        board.emit(
            "tracking.shipment_delivered",
            s.merchant_id,
            {
                **_parcel(s),
                "tracking_number": s.tracking_number,
                "delivered_at": at.isoformat(),
                "promised_delivery_date": _iso(s.promised_date),
                "on_time": delays.on_time(s),
                "transit_hours": round(transit_hours, 2) if transit_hours is not None and transit_hours >= 0 else None,
            },
            cause=event.event_id,
            at=at,
        )
        board.notify(s, "delivered", "delivered", at)
        _maybe_order_delivered(board, board.order(s.merchant_id, s.order_id), event)


def _returned(board: Board, s: Shipment, event: Envelope, at: datetime) -> None:
    """A return parcel reached the merchant: the goods are back, which loyalty and segments act on."""
    if s.customer_id is None or not s.return_lines:
        return  # without the lines nobody can say which units came back (the shop reports it itself then)
    board.emit(
        "order.returned",
        s.merchant_id,
        {"return_id": s.shipment_id, "order_id": s.order_id, "customer_id": s.customer_id, "lines": s.return_lines},
        cause=event.event_id,
        at=at,
    )


def _maybe_order_delivered(board: Board, order: OrderFacts, event: Envelope) -> None:
    """Delivered when every outbound parcel is, and (if the order's lines are known) every line shipped."""
    if order.delivered_at is not None:
        return
    parcels = [s for s in board.parcels_of(order.merchant_id, order.order_id) if s.direction == "outbound"]
    if not parcels or any(s.status != "delivered" for s in parcels):
        return
    shipped = {line for s in parcels for line in s.line_ids}
    if order.line_ids and not set(order.line_ids) <= shipped:
        return  # a split order: parcels for the other lines are still to come
    customer_id = order.customer_id or next((s.customer_id for s in parcels if s.customer_id), None)
    if customer_id is None:
        return
    delivered_at = max(s.delivered_at for s in parcels if s.delivered_at is not None)
    order.delivered_at = delivered_at
    board.emit(
        "tracking.order_delivered",
        order.merchant_id,
        {
            "order_id": order.order_id,
            "customer_id": customer_id,
            "delivered_at": delivered_at.isoformat(),
            "shipment_ids": sorted(s.shipment_id for s in parcels),
        },
        cause=uuid.uuid5(_NAMESPACE, f"{order.merchant_id}\x1forder_delivered\x1f{order.order_id}"),
        at=delivered_at,
    )


def _refresh(
    board: Board,
    s: Shipment,
    rules: DeliveryRules,
    transit: TransitTime | None,
    now: datetime,
    *,
    cause: uuid.UUID,
    estimated: bool = False,
) -> None:
    if not estimated:  # a scan that changed the status computed it already for its event
        s.estimated_date, _ = estimate(s, rules, transit, now)
    if s.customer_id is None:
        # A scan came before shipment.created: problems wait for the parcel to be announced (the problem
        # events and apologies name the customer), so none is marked reported without being told.
        board.checks[(s.merchant_id, s.shipment_id)] = None
        return
    for change in delays.reconcile(s, rules, now):
        _announce(board, s, change, now, cause)
    board.checks[(s.merchant_id, s.shipment_id)] = delays.next_check(s, rules, now)


def _announce(board: Board, s: Shipment, change: delays.Change, now: datetime, cause: uuid.UUID) -> None:
    base = _parcel(s)
    pair_cause = uuid.uuid5(cause, f"{change.problem}:{change.reason}:{change.raised}")
    log_row = (s.merchant_id, s.shipment_id, s.carrier, change.problem, change.reason, change.raised, now)
    board.problem_log.append(log_row)
    if not change.raised:
        data = {**base, "problem": change.problem, "reason": change.reason, "cleared_at": now.isoformat()}
        board.emit("tracking.shipment_problem_cleared", s.merchant_id, data, cause=pair_cause, at=now)
        return
    if change.problem == "delayed":
        data = {
            **base,
            "reason": change.reason,
            "promised_delivery_date": _iso(s.promised_date),
            "estimated_delivery_date": _iso(s.estimated_date),
            "detected_at": now.isoformat(),
            "last_scan_at": s.last_scan_at.isoformat() if s.last_scan_at else None,
        }
        board.emit("tracking.shipment_delayed", s.merchant_id, data, cause=pair_cause, at=now)
    elif change.problem == "stuck":
        assert s.last_scan_at is not None
        data = {
            **base,
            "tracking_number": s.tracking_number,
            "status": s.status,
            "last_scan_at": s.last_scan_at.isoformat(),
            "hours_without_scan": int((now - s.last_scan_at).total_seconds() // 3600),
            "promised_delivery_date": _iso(s.promised_date),
            "estimated_delivery_date": _iso(s.estimated_date),
            "detected_at": now.isoformat(),
        }
        board.emit("tracking.shipment_stuck", s.merchant_id, data, cause=pair_cause, at=now)
    else:
        data = {
            **base,
            "tracking_number": s.tracking_number,
            "reason": change.reason,
            "exception_reason": s.exception_reason,
            "raw_status_code": s.raw_status_code or "unknown",
            "scanned_at": (s.status_at or now).isoformat(),
        }
        board.emit("tracking.shipment_exception", s.merchant_id, data, cause=pair_cause, at=now)
    if change.problem in PROBLEM_MESSAGE:
        board.notify(s, PROBLEM_MESSAGE[change.problem], change.problem, now, reason=change.reason)


def _parcel(s: Shipment) -> dict[str, Any]:
    """The facts every tracking event about a parcel starts with."""
    return {"shipment_id": s.shipment_id, "order_id": s.order_id, "customer_id": s.customer_id, "carrier": s.carrier}


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None
