"""Flows notifications runs itself from shop events: the mails no other service asks for.

- order received: transactional, right away;
- first-order thank-you: N minutes after a customer's first order (marketing);
- account invitation: after a guest checkout, when the merchant has an account page (marketing);
- win-back: N days after the latest order, moved by every new order (marketing);
- cart reminder: N minutes after the cart's last change, cancelled when the order arrives or the cart is
  checked out (cancel-on-event);
- review request: N days after delivery, N per product category (the longest of the order's), cancelled when
  the order comes back; aftercare and cross-sell content N days after delivery, per product category;
- review replies: a personal reply to a negative review offering to make it right, plus an alert to the
  merchant's team; a thank-you for a positive one (both transactional: answers to the customer's own words).

Pure: each shop event becomes notification requests to (re)schedule and triggers to cancel, given the merchant's
settings and what notifications remembers of each order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.common.envelope import Envelope
from services.notifications.domain.messages import CONTACT_WAIT, NotificationRequest, trigger_notification_id
from services.notifications.domain.settings import NotificationSettings

DEFAULTS = NotificationSettings()


@dataclass(frozen=True)
class OrderFacts:
    """What notifications keeps of an order for the mails after delivery (categories, product names)."""

    merchant_id: str
    order_id: str
    customer_id: str
    order_number: str
    placed_at: datetime
    #: Product categories in the order's line order, each once.
    categories: tuple[str, ...]


@dataclass(frozen=True)
class Cancel:
    """Pending notifications an event made pointless: one trigger, or all of a template but `keep`."""

    merchant_id: str
    customer_id: str
    template: str
    why: str
    trigger_id: str | None = None
    keep: str | None = None


@dataclass
class FlowDecisions:
    #: Requests to store; `replace` ones move a pending notification (a cart that changed again).
    requests: list[NotificationRequest] = field(default_factory=list)
    replace: list[NotificationRequest] = field(default_factory=list)
    cancel: list[Cancel] = field(default_factory=list)
    #: Orders to remember (from order.placed).
    orders: list[OrderFacts] = field(default_factory=list)


def decide(
    events: list[Envelope],
    settings: Mapping[str, NotificationSettings] | None = None,
    orders: Mapping[tuple[str, str], OrderFacts] | None = None,
    customers_with_orders: set[tuple[str, str]] | None = None,
) -> FlowDecisions:
    """`orders`: what is remembered of the delivered orders; `customers_with_orders`: customers who had an order
    before this batch (so the first order is recognised; the set grows with the batch)."""
    out = FlowDecisions()
    settings = settings or {}
    known_orders = dict(orders or {})
    ordered_before = set(customers_with_orders or ())
    for event in events:
        s = settings.get(event.merchant_id, DEFAULTS)
        if event.type == "order.placed":
            facts = _order_facts(event)
            known_orders[(event.merchant_id, facts.order_id)] = facts
            out.orders.append(facts)
            _order_placed(out, event, s, first=(event.merchant_id, facts.customer_id) not in ordered_before)
            ordered_before.add((event.merchant_id, facts.customer_id))
        elif event.type == "cart.updated":
            _cart_updated(out, event, s)
        elif event.type == "cart.checked_out":
            trigger = f"cart:reminder:{event.data['cart_id']}"
            _cancel_in(out, _cancel(event, "cart_reminder", "cancelled: checked out", trigger))
        elif event.type == "tracking.order_delivered":
            _delivered(out, event, s, known_orders.get((event.merchant_id, event.data["order_id"])))
        elif event.type == "order.returned":
            trigger = f"review:request:{event.data['order_id']}"
            _cancel_in(out, _cancel(event, "review_request", "cancelled: returned", trigger))
            trigger = f"aftercare:{event.data['order_id']}"
            _cancel_in(out, _cancel(event, "aftercare", "cancelled: returned", trigger))
        elif event.type == "review.submitted":
            _reviewed(out, event, s)
    out.requests = [r for r in out.requests if settings.get(r.merchant_id, DEFAULTS).sends(r.template)]
    out.replace = [r for r in out.replace if settings.get(r.merchant_id, DEFAULTS).sends(r.template)]
    return out


def _order_placed(out: FlowDecisions, event: Envelope, s: NotificationSettings, *, first: bool) -> None:
    d, at = event.data, event.occurred_at
    order = {"order_id": d["order_id"], "order_number": d["order_number"]}
    facts = {
        **order,
        "total_minor": d["total_minor"],
        "currency": d["currency"],
        "items": sum(line["quantity"] for line in d["lines"]),
    }
    trigger = f"order:received:{d['order_id']}"
    out.requests.append(_request(event, "order_received", trigger, "transactional", at, facts))
    _cancel_in(out, _cancel(event, "cart_reminder", "cancelled: the order arrived"))
    if first:
        due = at + timedelta(minutes=s.first_order_thank_you_minutes)
        trigger = f"first-order:{d['customer_id']}"
        out.requests.append(_request(event, "first_order_thank_you", trigger, "marketing", due, order))
    if d["is_guest_checkout"] and s.account_url is not None:
        trigger = f"account:invitation:{d['customer_id']}"
        facts = {**order, "account_url": str(s.account_url)}
        out.requests.append(_request(event, "account_invitation", trigger, "marketing", at + timedelta(days=1), facts))
    # Win-back is armed by every order and disarmed by the next: the customer lapsed only if none came since.
    trigger = f"win-back:{d['order_id']}"
    _cancel_in(out, _cancel(event, "win_back", "cancelled: ordered again", keep=trigger))
    facts = {
        "last_order_at": at.isoformat(),
        "shop_url": str(s.shop_url) if s.shop_url else None,
        "code": s.win_back_code,
        "percent_off": s.win_back_percent_off,
    }
    due = at + timedelta(days=s.win_back_days)
    out.requests.append(_request(event, "win_back", trigger, "marketing", due, facts))


def _cart_updated(out: FlowDecisions, event: Envelope, s: NotificationSettings) -> None:
    d = event.data
    trigger = f"cart:reminder:{d['cart_id']}"
    if not d["lines"]:  # emptied: nothing to remind of
        _cancel_in(out, _cancel(event, "cart_reminder", "cancelled: emptied", trigger))
        return
    facts = {
        "recovery_url": d["recovery_url"],
        "total_minor": d["total_minor"],
        "currency": d["currency"],
        "items": sum(line.get("quantity", 1) for line in d["lines"]),
    }
    due = event.occurred_at + timedelta(minutes=s.cart_reminder_minutes)
    out.replace.append(_request(event, "cart_reminder", trigger, "marketing", due, facts))


def _delivered(out: FlowDecisions, event: Envelope, s: NotificationSettings, order: OrderFacts | None) -> None:
    d = event.data
    delivered_at = datetime.fromisoformat(d["delivered_at"])
    categories = order.categories if order else ()
    facts = {"order_id": d["order_id"], "order_number": order.order_number if order else None}
    days = max((s.review_request_days_by_category.get(c, s.review_request_days) for c in categories), default=None)
    due = delivered_at + timedelta(days=days or s.review_request_days)
    out.requests.append(_request(event, "review_request", f"review:request:{d['order_id']}", "marketing", due, facts))
    content = next((s.aftercare[c] for c in categories if c in s.aftercare), None)
    if content is not None:
        # Written in one language only: the customer in the other gets it rather than nothing.
        fallback = next(iter(content.texts.values()))
        localized = {locale: content.texts.get(locale, fallback).model_dump() for locale in ("de", "en")}
        aftercare = {
            **facts,
            "kind": content.kind,
            "localized": localized,
            "products": [{"name": p.name, "url": str(p.url)} for p in content.products],
        }
        due = delivered_at + timedelta(days=content.days)
        out.requests.append(_request(event, "aftercare", f"aftercare:{d['order_id']}", "marketing", due, aftercare))


def _reviewed(out: FlowDecisions, event: Envelope, s: NotificationSettings) -> None:
    d, at = event.data, event.occurred_at
    facts = {
        "order_id": d.get("order_id"),
        "rating": d["rating"],
        "title": d.get("title"),
        "review_id": d["review_id"],
    }
    if d["rating"] <= s.negative_review_max_rating:
        offer = {locale: {"offer": text} for locale, text in s.review_recovery_offer.items()}
        trigger = f"review:reply:{d['review_id']}"
        reply = {**facts, "localized": offer}
        out.requests.append(_request(event, "negative_review_reply", trigger, "transactional", at, reply))
        if s.review_alert_email:
            alert = {
                **facts,
                "customer_id": d["customer_id"],
                "body": d.get("body"),
                "recipient_email": s.review_alert_email,
                "recipient_locale": s.review_alert_locale,
            }
            trigger = f"review:alert:{d['review_id']}"
            out.requests.append(_request(event, "review_alert", trigger, "merchant", at, alert))
    elif d["rating"] >= s.positive_review_min_rating:
        trigger = f"review:thanks:{d['review_id']}"
        out.requests.append(_request(event, "positive_review_thanks", trigger, "transactional", at, facts))


def goodwill_grants(events: list[Envelope]) -> list[tuple[str, str, int, datetime]]:
    """Loyalty's goodwill for a late parcel, as (merchant, shipment, points, at): the delay apology mentions it."""
    return [
        (e.merchant_id, e.data["shipment_id"], e.data["points"], e.occurred_at)
        for e in events
        if e.type == "loyalty.points_earned" and e.data["reason_code"] == "goodwill" and e.data.get("shipment_id")
    ]


def _order_facts(event: Envelope) -> OrderFacts:
    d = event.data
    return OrderFacts(
        merchant_id=event.merchant_id,
        order_id=d["order_id"],
        customer_id=d["customer_id"],
        order_number=d["order_number"],
        placed_at=event.occurred_at,
        categories=tuple(dict.fromkeys(line["category"] for line in d["lines"] if line.get("category"))),
    )


def _cancel_in(out: FlowDecisions, cancel: Cancel) -> None:
    """Cancel what the store holds and, in stream order, what earlier events of this batch asked for: the store
    applies cancellations before the batch's requests, so a later request is never cancelled by an earlier event."""
    out.cancel.append(cancel)

    def cancelled(r: NotificationRequest) -> bool:
        return (
            (r.merchant_id, r.customer_id, r.template) == (cancel.merchant_id, cancel.customer_id, cancel.template)
            and cancel.trigger_id in (None, r.trigger_id)
            and r.trigger_id != cancel.keep
        )

    out.requests = [r for r in out.requests if not cancelled(r)]
    out.replace = [r for r in out.replace if not cancelled(r)]


def _cancel(event: Envelope, template: str, why: str, trigger_id: str | None = None, keep: str | None = None) -> Cancel:
    return Cancel(event.merchant_id, event.data["customer_id"], template, why, trigger_id, keep)


def _request(
    event: Envelope, template: str, trigger_id: str, category: str, due: datetime, facts: dict[str, Any]
) -> NotificationRequest:
    return NotificationRequest(
        notification_id=trigger_notification_id(event.merchant_id, trigger_id),
        merchant_id=event.merchant_id,
        customer_id=event.data["customer_id"],
        template=template,
        context=facts,
        trigger_event=event.event_id,
        not_before=due,
        give_up_at=due + CONTACT_WAIT,
        category=category,
        trigger_id=trigger_id,
        trigger_at=due,  # staleness counts from when the mail was meant to go, not from the cause
    )
