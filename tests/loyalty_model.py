"""Loyalty's rules driven in memory the way the service drives them: an inbox that skips event ids it has
seen, a ledger that refuses an entry id twice, and a schedule run with an explicit `now`.

Unit and property tests use it to check the rules; integration tests compare the real service to it.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from services.common.envelope import Envelope, new_envelope
from services.loyalty.domain.book import Book
from services.loyalty.domain.engine import Engine
from services.loyalty.domain.model import Entry
from services.loyalty.domain.programme import Programme
from services.loyalty.domain.rewards import RedemptionRefused, pay_with_points

MERCHANT = "m-model"


class LoyaltyModel:
    def __init__(self, programme: Programme | None = None) -> None:
        self.book = Book()
        self.seen: set[uuid.UUID] = set()
        self.programmes = {MERCHANT: programme} if programme else {}
        counter = itertools.count()
        self.engine = Engine(self.programmes, new_code=lambda: f"CODE-{next(counter):06d}")

    def deliver(self, events: Iterable[Envelope]) -> None:
        for event in events:
            if event.event_id in self.seen:
                continue
            self.seen.add(event.event_id)
            self.book.known_entry_ids = {e.entry_id for _, e in self.book.entries}
            self.engine.handle(self.book, event)

    def run_jobs(self, now: datetime) -> int:
        ran = 0
        while due := sorted((j for j in self.book.jobs.values() if j.due_at <= now), key=lambda j: (j.due_at, j.key)):
            job = due[0]
            del self.book.jobs[job.key]
            self.engine.run_job(self.book, job.kind, job.merchant_id, dict(job.payload), now)
            ran += 1
        return ran

    def pay_with_points(self, customer_id: str, points: int, total_minor: int, now: datetime) -> bool:
        account = self.book.account(MERCHANT, customer_id)
        try:
            pay_with_points(
                self.book,
                self.engine.programme(MERCHANT),
                MERCHANT,
                account,
                points,
                total_minor,
                redemption_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{customer_id}/{points}/{now}"),
                code="CODE-PAY",
                now=now,
            )
        except RedemptionRefused:
            return False
        return True

    def entries(self, customer_id: str | None = None) -> list[Entry]:
        return [e for _, e in self.book.entries if customer_id is None or e.customer_id == customer_id]

    def balances(self) -> dict[str, tuple[int, int, int, int]]:
        return {c: (a.available, a.pending, a.lifetime_earned, a.debt) for (_, c), a in self.book.accounts.items()}


def event(event_type: str, occurred_at: datetime, data: dict[str, Any], event_id: uuid.UUID | None = None) -> Envelope:
    return new_envelope(event_type, MERCHANT, data, occurred_at=occurred_at, event_id=event_id)


def order_placed(customer_id: str, order_id: str, at: datetime, lines: list[tuple[str, int, int, str]]) -> Envelope:
    """lines: (line_id, quantity, total_minor, category)."""
    total = sum(t for _, _, t, _ in lines)
    return event(
        "order.placed",
        at,
        {
            "order_id": order_id,
            "order_number": order_id.upper(),
            "customer_id": customer_id,
            "currency": "EUR",
            "lines": [
                {
                    "line_id": lid,
                    "sku": f"sku-{lid}",
                    "product_id": f"p-{lid}",
                    "name": lid,
                    "category": cat,
                    "quantity": q,
                    "unit_price_minor": t // max(q, 1),
                    "total_minor": t,
                }
                for lid, q, t, cat in lines
            ],
            "subtotal_minor": total,
            "shipping_minor": 490,
            "tax_minor": 0,
            "discount_minor": 0,
            "total_minor": total + 490,
            "discount_codes": [],
            "channel": "web_shop",
            "is_guest_checkout": False,
        },
    )


def order_paid(customer_id: str, order_id: str, at: datetime, amount: int = 1000) -> Envelope:
    return event(
        "order.paid",
        at,
        {
            "order_id": order_id,
            "customer_id": customer_id,
            "amount_minor": amount,
            "currency": "EUR",
            "payment_method": "paypal",
        },
    )


def order_delivered(customer_id: str, order_id: str, at: datetime) -> Envelope:
    return event(
        "tracking.order_delivered",
        at,
        {
            "order_id": order_id,
            "customer_id": customer_id,
            "delivered_at": at.isoformat(),
            "shipment_ids": [f"s-{order_id}"],
        },
    )


def order_cancelled(customer_id: str, order_id: str, at: datetime) -> Envelope:
    return event(
        "order.cancelled", at, {"order_id": order_id, "customer_id": customer_id, "reason": "customer_request"}
    )


def order_returned(customer_id: str, order_id: str, at: datetime, lines: dict[str, int], return_id: str) -> Envelope:
    return event(
        "order.returned",
        at,
        {
            "return_id": return_id,
            "order_id": order_id,
            "customer_id": customer_id,
            "lines": [{"line_id": k, "quantity": q} for k, q in lines.items()],
        },
    )


def order_refunded(customer_id: str, order_id: str, at: datetime, lines: dict[str, int], refund_id: str) -> Envelope:
    return event(
        "order.refunded",
        at,
        {
            "refund_id": refund_id,
            "order_id": order_id,
            "customer_id": customer_id,
            "lines": [{"line_id": k, "quantity": q, "amount_minor": 100} for k, q in lines.items()],
            "amount_minor": 100 * len(lines),
            "currency": "EUR",
            "reason": "damaged",
        },
    )


def shipment_delayed(customer_id: str, order_id: str, shipment_id: str, at: datetime) -> Envelope:
    return event(
        "tracking.shipment_delayed",
        at,
        {
            "shipment_id": shipment_id,
            "order_id": order_id,
            "customer_id": customer_id,
            "carrier": "dhl",
            "reason": "promise_passed",
            "promised_delivery_date": at.date().isoformat(),
            "detected_at": at.isoformat(),
        },
    )


def review(customer_id: str, review_id: str, at: datetime, photo: bool = False) -> Envelope:
    return event(
        "review.submitted",
        at,
        {
            "review_id": review_id,
            "customer_id": customer_id,
            "rating": 5,
            "title": "Super",
            "body": "Alles bestens",
            "has_photo": photo,
            "locale": "de-DE",
        },
    )
