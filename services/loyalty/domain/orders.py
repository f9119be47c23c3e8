"""Points that follow the parcel: pending on payment, confirmed after delivery plus the return window,
voided on cancellation, reversed line by line on returns and refunds. Pure rules over a `Book`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from services.common.envelope import Envelope
from services.loyalty.domain import automations, bonuses, expiry, tiers
from services.loyalty.domain.book import Book
from services.loyalty.domain.earning import capped, points_by_line, points_to_reverse
from services.loyalty.domain.model import Account, Entry, Order, stable_id
from services.loyalty.domain.programme import Programme


def confirm_job_key(merchant_id: str, order_id: str) -> str:
    return f"confirm:{merchant_id}:{order_id}"


def on_placed(book: Book, programme: Programme, event: Envelope) -> None:
    data = event.data
    order = book.order(event.merchant_id, data["order_id"], data["customer_id"])
    if order.placed:
        return
    order.placed = True
    order.order_number = data.get("order_number")
    order.currency = data["currency"]
    order.placed_at = event.occurred_at
    order.lines = points_by_line(data, programme.config.earning, Decimal(1))  # eligible amounts; points at payment
    book.account(event.merchant_id, order.customer_id)
    _earn_if_ready(book, programme, event.merchant_id, order)


def on_paid(book: Book, programme: Programme, event: Envelope) -> None:
    data = event.data
    order = book.order(event.merchant_id, data["order_id"], data["customer_id"])
    if order.paid_at is not None:
        return
    order.paid_at, order.paid_event_id = event.occurred_at, event.event_id
    book.account(event.merchant_id, order.customer_id)
    _earn_if_ready(book, programme, event.merchant_id, order)


def _earn_if_ready(book: Book, programme: Programme, merchant_id: str, order: Order) -> None:
    """Purchase points go pending once the order is both known (lines) and paid, whichever came last."""
    if not (order.placed and order.paid_at and order.paid_event_id) or order.cancelled_at or order.earn_entry_id:
        return
    account = book.account(merchant_id, order.customer_id)
    config = programme.config
    multiplier = bonuses.customer_multiplier(account, config, order.paid_at)
    lines = points_by_line_from(order, config.earning, multiplier)
    total = sum(line.points for line in lines.values())
    allowed = capped(total, bonuses.granted_in_periods(account, config, order.paid_at), bonuses.caps(config))
    _cut_to(lines, allowed)
    order.lines = lines
    order.rule_version = programme.version
    order.earn_entry_id = stable_id("pending", merchant_id, order.order_id)
    order.earn_points = sum(line.points for line in lines.values())
    # Lines returned before the points were granted never earn: count them as reversed from the start.
    order.reversed_points = {
        line_id: points_to_reverse(lines[line_id], 0, quantity)[1]
        for line_id, quantity in order.reversed_qty.items()
        if line_id in lines
    }
    if order.remaining_points > 0:
        entry = book.post(
            merchant_id,
            account,
            Entry(
                entry_id=order.earn_entry_id,
                customer_id=order.customer_id,
                kind="pending",
                bucket="pending",
                points=order.remaining_points,
                reason_code="purchase",
                source_event_id=order.paid_event_id,
                source_type="order.paid",
                occurred_at=order.paid_at,
                rule_version=programme.version,
                order_id=order.order_id,
            ),
        )
        account.record_activity(order.paid_at, granted=entry.points)
        available_at = (
            order.delivered_at + timedelta(days=config.pending.return_window_days) if order.delivered_at else None
        )
        book.emit(
            "loyalty.points_pending",
            merchant_id,
            {
                "customer_id": order.customer_id,
                "order_id": order.order_id,
                "order_number": order.order_number,
                "points": entry.points,
                "pending_balance": account.pending,
                "balance": account.available,
                "available_at": available_at.isoformat() if available_at else None,
                "reason_code": "purchase",
                "rule_version": programme.version,
                "ledger_entry_id": str(entry.entry_id),
                "source_event_id": str(entry.source_event_id),
            },
            cause=entry.entry_id,
            occurred_at=entry.occurred_at,
        )
        book.notify(
            merchant_id,
            order.customer_id,
            "points_pending",
            cause=entry.entry_id,
            occurred_at=entry.occurred_at,
            order_id=order.order_id,
            variables={
                "points": entry.points,
                "pending_balance": account.pending,
                "balance": account.available,
                "order_number": order.order_number,
            },
        )
    _schedule_confirmation(book, programme, merchant_id, order)


def points_by_line_from(order: Order, earning: Any, multiplier: Decimal) -> dict[str, Any]:
    as_event = {
        "lines": [
            {
                "line_id": ln.line_id,
                "quantity": ln.quantity,
                "total_minor": ln.eligible_minor,
                "category": ln.category,
                "sku": ln.sku,
            }
            for ln in order.lines.values()
        ],
        "tax_minor": 0,
        "discount_minor": 0,
    }
    return points_by_line(as_event, earning, multiplier)


def _cut_to(lines: dict[str, Any], allowed: int) -> None:
    """A cap takes points off the last lines first, so reversals still add up per line."""
    excess = sum(line.points for line in lines.values()) - allowed
    for line in reversed(list(lines.values())):
        if excess <= 0:
            break
        cut = min(excess, line.points)
        line.points -= cut
        excess -= cut


def _schedule_confirmation(book: Book, programme: Programme, merchant_id: str, order: Order) -> None:
    if order.confirmed_at or order.cancelled_at or not order.earn_entry_id or not order.paid_at:
        return
    pending = programme.config.pending
    if order.delivered_at is not None:
        due = order.delivered_at + timedelta(days=pending.return_window_days)
    else:
        due = order.paid_at + timedelta(days=pending.fallback_days)
    book.schedule(
        confirm_job_key(merchant_id, order.order_id),
        "confirm_points",
        merchant_id,
        due,
        order_id=order.order_id,
        customer_id=order.customer_id,
    )


def on_delivered(book: Book, programme: Programme, event: Envelope) -> None:
    data = event.data
    order = book.order(event.merchant_id, data["order_id"], data["customer_id"])
    delivered_at = datetime.fromisoformat(data["delivered_at"])
    if order.delivered_at is not None and order.delivered_at >= delivered_at:
        return
    order.delivered_at = delivered_at
    book.account(event.merchant_id, order.customer_id)
    _schedule_confirmation(book, programme, event.merchant_id, order)


def confirm(book: Book, programme: Programme, merchant_id: str, order: Order, now: datetime) -> None:
    """The return window is over: what is still pending becomes available (job `confirm_points`)."""
    if order.confirmed_at or order.cancelled_at or not order.earn_entry_id:
        return
    account = book.account(merchant_id, order.customer_id)
    order.confirmed_at = now
    remaining = order.remaining_points
    base = {
        "customer_id": order.customer_id,
        "occurred_at": now,
        "rule_version": order.rule_version,
        "order_id": order.order_id,
        "source_event_id": order.earn_entry_id,
        "source_type": "loyalty.pending",
    }
    if remaining > 0:
        book.post(
            merchant_id,
            account,
            Entry(
                entry_id=stable_id("release", order.earn_entry_id),
                kind="pending_release",
                bucket="pending",
                points=-remaining,
                reason_code="purchase_confirmed",
                reverses_entry_id=order.earn_entry_id,
                **base,
            ),
        )
        entry = book.post(
            merchant_id,
            account,
            Entry(
                entry_id=stable_id("confirm", order.earn_entry_id),
                kind="confirm",
                bucket="available",
                points=remaining,
                reason_code="purchase_confirmed",
                **base,
            ),
        )
        order.confirm_entry_id = entry.entry_id
        expiry.schedule_lot(book, programme, merchant_id, account, entry)
        book.emit(
            "loyalty.points_confirmed",
            merchant_id,
            {
                "customer_id": order.customer_id,
                "order_id": order.order_id,
                "order_number": order.order_number,
                "points": remaining,
                "balance": account.available,
                "pending_balance": account.pending,
                "ledger_entry_id": str(entry.entry_id),
                "pending_entry_id": str(order.earn_entry_id),
            },
            cause=entry.entry_id,
            occurred_at=now,
        )
        book.notify(
            merchant_id,
            order.customer_id,
            "points_confirmed",
            cause=entry.entry_id,
            occurred_at=now,
            order_id=order.order_id,
            variables={"points": remaining, "balance": account.available, "order_number": order.order_number},
        )
    spend = sum(
        ln.eligible_minor * (ln.quantity - order.reversed_qty.get(ln.line_id, 0)) // max(1, ln.quantity)
        for ln in order.lines.values()
    )
    account.record_activity(now, points=max(0, remaining), spend_minor=spend)
    expiry.touch(book, programme, merchant_id, account, now)
    automations.on_order_confirmed(book, programme, merchant_id, account, order, now)
    tiers.evaluate_upgrade(book, programme, merchant_id, account, now, cause=order.earn_entry_id)


def on_cancelled(book: Book, programme: Programme, event: Envelope) -> None:
    data = event.data
    order = book.order(event.merchant_id, data["order_id"], data["customer_id"])
    if order.cancelled_at is not None:
        return
    if order.confirmed_at is not None:  # cancelled after confirmation: take back every line still held
        _reverse(
            book, programme, event, order, {ln.line_id: ln.quantity for ln in order.lines.values()}, "order_cancelled"
        )
        order.cancelled_at = event.occurred_at
        return
    order.cancelled_at = event.occurred_at
    book.cancel(confirm_job_key(event.merchant_id, order.order_id))
    remaining = order.remaining_points
    if order.earn_entry_id is None or remaining <= 0:
        return
    account = book.account(event.merchant_id, order.customer_id)
    entry = book.post(
        event.merchant_id,
        account,
        Entry(
            entry_id=stable_id("void", order.earn_entry_id),
            customer_id=order.customer_id,
            kind="pending_void",
            bucket="pending",
            points=-remaining,
            reason_code="order_cancelled",
            source_event_id=event.event_id,
            source_type=event.type,
            occurred_at=event.occurred_at,
            rule_version=order.rule_version,
            order_id=order.order_id,
            reverses_entry_id=order.earn_entry_id,
        ),
    )
    for line in order.lines.values():
        order.reversed_points[line.line_id] = line.points
    account.record_activity(event.occurred_at, granted=-remaining)
    _emit_reversed(book, event.merchant_id, account, order, entry, "order_cancelled", pending=True)


def on_returned_or_refunded(book: Book, programme: Programme, event: Envelope) -> None:
    data = event.data
    order = book.order(event.merchant_id, data["order_id"], data["customer_id"])
    quantities: dict[str, int] = {}
    for line in data["lines"]:
        quantities[line["line_id"]] = quantities.get(line["line_id"], 0) + int(line["quantity"])
    reason = "order_returned" if event.type == "order.returned" else "order_refunded"
    _reverse(book, programme, event, order, quantities, reason)


def _reverse(
    book: Book, programme: Programme, event: Envelope, order: Order, quantities: dict[str, int], reason: str
) -> None:
    if order.cancelled_at is not None:
        return
    total = 0
    track, other = (
        (order.refunded_qty, order.returned_qty)
        if event.type == "order.refunded"
        else (order.returned_qty, order.refunded_qty)
    )
    for line_id, returned in quantities.items():
        line = order.lines.get(line_id)
        if line is None:
            continue
        track[line_id] = min(line.quantity, track.get(line_id, 0) + returned)
        already = order.reversed_qty.get(line_id, 0)
        quantity, points = points_to_reverse(line, already, max(track[line_id], other.get(line_id, 0)) - already)
        if quantity == 0:
            continue
        order.reversed_qty[line_id] = already + quantity
        if order.earn_entry_id is not None:
            order.reversed_points[line_id] = order.reversed_points.get(line_id, 0) + points
        total += points
    if order.earn_entry_id is None or total <= 0:
        return  # nothing earned yet: the quantities are remembered and earn nothing later
    account = book.account(event.merchant_id, order.customer_id)
    common = {
        "customer_id": order.customer_id,
        "source_event_id": event.event_id,
        "source_type": event.type,
        "occurred_at": event.occurred_at,
        "rule_version": order.rule_version,
        "order_id": order.order_id,
    }
    if order.confirmed_at is None:
        entry = book.post(
            event.merchant_id,
            account,
            Entry(
                entry_id=stable_id("pending_reversal", event.event_id),
                kind="pending_reversal",
                bucket="pending",
                points=-total,
                reason_code=reason,
                reverses_entry_id=order.earn_entry_id,
                **common,
            ),
        )
        account.record_activity(event.occurred_at, granted=-total)
        _emit_reversed(book, event.merchant_id, account, order, entry, reason, pending=True)
        return
    taken = min(total, max(0, account.available))
    shortfall = total - taken
    entry = book.post(
        event.merchant_id,
        account,
        Entry(
            entry_id=stable_id("reversal", event.event_id),
            kind="reversal",
            bucket="available",
            points=-taken,
            reason_code=reason,
            reverses_entry_id=order.confirm_entry_id or order.earn_entry_id,
            shortfall=shortfall,
            **common,
        ),
    )
    account.debt += shortfall
    spend = sum(
        order.lines[lid].eligible_minor * q // max(1, order.lines[lid].quantity)
        for lid, q in quantities.items()
        if lid in order.lines
    )
    account.record_activity(event.occurred_at, points=-total, spend_minor=-spend, granted=-total)
    _emit_reversed(book, event.merchant_id, account, order, entry, reason, pending=False, total=total)


def _emit_reversed(
    book: Book,
    merchant_id: str,
    account: Account,
    order: Order,
    entry: Entry,
    reason: str,
    *,
    pending: bool,
    total: int | None = None,
) -> None:
    points = total if total is not None else -entry.points
    book.emit(
        "loyalty.points_reversed",
        merchant_id,
        {
            "customer_id": order.customer_id,
            "order_id": order.order_id,
            "order_number": order.order_number,
            "points": points,
            "from_bucket": "pending" if pending else "available",
            "balance": account.available,
            "pending_balance": account.pending,
            "shortfall": entry.shortfall,
            "reason_code": reason,
            "ledger_entry_id": str(entry.entry_id),
            "reverses_entry_id": str(entry.reverses_entry_id),
            "source_event_id": str(entry.source_event_id),
        },
        cause=entry.entry_id,
        occurred_at=entry.occurred_at,
    )
    book.notify(
        merchant_id,
        order.customer_id,
        "points_reversed",
        cause=entry.entry_id,
        occurred_at=entry.occurred_at,
        order_id=order.order_id,
        variables={
            "points": points,
            "balance": account.available,
            "pending_balance": account.pending,
            "reason": reason,
            "order_number": order.order_number,
        },
    )
