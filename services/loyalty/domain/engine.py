"""Dispatch: which rule an incoming event or a due job runs. The only entry point the adapters call."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from services.common.envelope import Envelope
from services.loyalty.domain import automations, bonuses, expiry, orders, tiers
from services.loyalty.domain.book import Book
from services.loyalty.domain.model import Account
from services.loyalty.domain.programme import DEFAULT_PROGRAMME, Programme

EVENT_TYPES = frozenset(
    {
        "order.placed",
        "order.paid",
        "order.cancelled",
        "order.refunded",
        "order.returned",
        "customer.created",
        "customer.updated",
        "customer.erasure_requested",
        "review.submitted",
        "membership.purchased",
        "membership.renewed",
        "membership.cancelled",
        "membership.expired",
        "tracking.order_delivered",
        "tracking.shipment_delayed",
        "points.award_requested",
    }
)
JOB_KINDS = (
    "confirm_points",
    "warn_expiry",
    "expire_points",
    "warn_lot",
    "expire_lot",
    "review_tier",
    "birthday_points",
    "tenure_voucher",
)


class Engine:
    def __init__(self, programmes: Mapping[str, Programme], new_code: Callable[[], str]) -> None:
        self.programmes = programmes
        self.new_code = new_code

    def programme(self, merchant_id: str) -> Programme:
        return self.programmes.get(merchant_id, DEFAULT_PROGRAMME)

    def handle(self, book: Book, event: Envelope) -> None:
        programme = self.programme(event.merchant_id)
        handler = _EVENT_HANDLERS.get(event.type)
        if handler is not None:
            handler(book, programme, event)

    def run_job(self, book: Book, kind: str, merchant_id: str, payload: dict[str, Any], now: datetime) -> None:
        programme = self.programme(merchant_id)
        if kind == "confirm_points":
            order = book.orders.get((merchant_id, payload["order_id"]))
            if order is not None:
                book.dirty_orders.add((merchant_id, order.order_id))
                orders.confirm(book, programme, merchant_id, order, now)
            return
        account = book.account(merchant_id, payload["customer_id"])
        if kind == "warn_expiry":
            expiry.warn_expiry(book, programme, merchant_id, account, payload, now)
        elif kind == "expire_points":
            expiry.expire(book, programme, merchant_id, account, payload, now)
        elif kind == "warn_lot":
            expiry.warn_lot(book, programme, merchant_id, account, payload, now)
        elif kind == "expire_lot":
            expiry.expire_lot(book, programme, merchant_id, account, payload, now)
        elif kind == "review_tier":
            tiers.review_tier(book, programme, merchant_id, account, now)
        elif kind == "birthday_points":
            automations.birthday_points(book, programme, merchant_id, account, payload, now, self.new_code())
        elif kind == "tenure_voucher":
            automations.tenure_voucher(book, programme, merchant_id, account, payload, now, self.new_code())
        else:
            raise LookupError(f"unknown loyalty job kind {kind!r}")


def _on_customer(book: Book, programme: Programme, event: Envelope) -> None:
    data = event.data
    account = book.account(event.merchant_id, data["customer_id"])
    if account.erased_at is not None and event.occurred_at <= account.erased_at:
        return
    if "birthday" in data:
        account.birthday = date.fromisoformat(data["birthday"]) if data["birthday"] else None
        automations.schedule_birthday(book, event.merchant_id, account, event.occurred_at)
    if data.get("referrer_customer_id") and account.referred_by is None and account.first_order_id is None:
        account.referred_by = data["referrer_customer_id"]
    tiers.ensure_tier(book, programme, event.merchant_id, account, event.occurred_at)
    if event.type == "customer.created" and not data.get("is_guest", False) and account.signed_up_at is None:
        account.signed_up_at = event.occurred_at
        bonuses.credit_bonus(
            book,
            programme,
            event.merchant_id,
            account,
            reason="signup",
            points=programme.config.bonuses.signup,
            natural_key=("signup", account.customer_id),
            source=event,
            now=event.occurred_at,
        )


def _on_erasure(book: Book, programme: Programme, event: Envelope) -> None:
    """Forget the person (birthday, referral link), keep pseudonymous totals and the ledger."""
    account = book.account(event.merchant_id, event.data["customer_id"])
    account.birthday, account.referred_by, account.erased_at = None, None, event.occurred_at
    for job in ("birthday", "tenure", "expiry_warning"):
        book.cancel(f"{job}:{event.merchant_id}:{account.customer_id}")


def _on_review(book: Book, programme: Programme, event: Envelope) -> None:
    data = event.data
    account = book.account(event.merchant_id, data["customer_id"])
    rates = programme.config.bonuses
    reason, points = ("review_photo", rates.review_photo) if data["has_photo"] else ("review", rates.review)
    bonuses.credit_bonus(
        book,
        programme,
        event.merchant_id,
        account,
        reason=reason,
        points=points,
        natural_key=("review", data["review_id"]),
        source=event,
        now=event.occurred_at,
        order_id=data.get("order_id"),
        review_id=data["review_id"],
    )


def _on_delay(book: Book, programme: Programme, event: Envelope) -> None:
    data = event.data
    account = book.account(event.merchant_id, data["customer_id"])
    bonuses.credit_bonus(
        book,
        programme,
        event.merchant_id,
        account,
        reason="goodwill",
        points=programme.config.goodwill.points,
        natural_key=("goodwill", data["shipment_id"]),
        source=event,
        now=event.occurred_at,
        kind="goodwill",
        order_id=data["order_id"],
        shipment_id=data["shipment_id"],
    )


def _on_award(book: Book, programme: Programme, event: Envelope) -> None:
    data = event.data
    account = book.account(event.merchant_id, data["customer_id"])
    reason = data["reason_code"]
    points = data.get("points", getattr(programme.config.bonuses, reason))
    key = (
        ("birthday", account.customer_id, event.occurred_at.year)
        if reason == "birthday"
        else ("award", data["request_id"])
    )
    bonuses.credit_bonus(
        book,
        programme,
        event.merchant_id,
        account,
        reason=reason,
        points=points,
        natural_key=key,
        source=event,
        now=event.occurred_at,
        kind="award",
        note=data.get("note"),
    )


def _on_membership(book: Book, programme: Programme, event: Envelope) -> None:
    data = event.data
    account = book.account(event.merchant_id, data["customer_id"])
    change = event.type.split(".", 1)[1]
    account.membership_plan = data["plan_id"]
    account.membership_status = {"purchased": "active", "renewed": "active"}.get(change, change)
    if data.get("valid_until"):
        account.membership_until = datetime.fromisoformat(data["valid_until"])
    if change == "expired":
        account.membership_until = event.occurred_at
    tiers.ensure_tier(book, programme, event.merchant_id, account, event.occurred_at)
    plan = programme.config.memberships.get(data["plan_id"])
    book.emit(
        "loyalty.membership_changed",
        event.merchant_id,
        _membership_data(account, change, plan),
        cause=event.event_id,
        occurred_at=event.occurred_at,
    )
    book.notify(
        event.merchant_id,
        account.customer_id,
        "membership_changed",
        cause=event.event_id,
        occurred_at=event.occurred_at,
        variables=_membership_data(account, change, plan),
    )


def _membership_data(account: Account, change: str, plan: Any) -> dict[str, Any]:
    return {
        "customer_id": account.customer_id,
        "plan_id": account.membership_plan,
        "change": change,
        "status": account.membership_status,
        "valid_until": account.membership_until.isoformat() if account.membership_until else None,
        "earn_multiplier": str(plan.earn_multiplier) if plan else "1",
        "free_shipping": bool(plan and plan.free_shipping),
        "tier": account.tier,
    }


_EVENT_HANDLERS: dict[str, Callable[[Book, Programme, Envelope], None]] = {
    "order.placed": orders.on_placed,
    "order.paid": orders.on_paid,
    "order.cancelled": orders.on_cancelled,
    "order.refunded": orders.on_returned_or_refunded,
    "order.returned": orders.on_returned_or_refunded,
    "tracking.order_delivered": orders.on_delivered,
    "tracking.shipment_delayed": _on_delay,
    "customer.created": _on_customer,
    "customer.updated": _on_customer,
    "customer.erasure_requested": _on_erasure,
    "review.submitted": _on_review,
    "points.award_requested": _on_award,
    "membership.purchased": _on_membership,
    "membership.renewed": _on_membership,
    "membership.cancelled": _on_membership,
    "membership.expired": _on_membership,
}
