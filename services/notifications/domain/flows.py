"""Flows notifications runs itself from shop events: the mails no other service asks for.

- order received: transactional, right away;
- cart reminder: marketing, one hour after the cart's last change, cancelled when the order arrives or the
  cart is checked out (cancel-on-event);
- review request: marketing, N days after the order was delivered, cancelled when the order comes back.

Pure: each shop event becomes notification requests to (re)schedule and triggers to cancel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.common.envelope import Envelope
from services.notifications.domain.messages import CONTACT_WAIT, NotificationRequest, trigger_notification_id

CART_REMINDER_DELAY = timedelta(hours=1)
REVIEW_REQUEST_DELAY = timedelta(days=7)


@dataclass
class FlowDecisions:
    #: Requests to store; `replace` ones move a pending notification (a cart changed again).
    requests: list[NotificationRequest] = field(default_factory=list)
    replace: list[NotificationRequest] = field(default_factory=list)
    #: Pending notifications to cancel: (merchant, customer, template, trigger_id or None for all, why).
    cancel: list[tuple[str, str, str, str | None, str]] = field(default_factory=list)


def decide(events: list[Envelope]) -> FlowDecisions:
    out = FlowDecisions()
    for event in events:
        d = event.data
        if event.type == "order.placed":
            out.requests.append(
                _request(
                    event,
                    "order_received",
                    f"order:received:{d['order_id']}",
                    "transactional",
                    event.occurred_at,
                    {
                        "order_id": d["order_id"],
                        "order_number": d["order_number"],
                        "total_minor": d["total_minor"],
                        "currency": d["currency"],
                        "items": sum(line["quantity"] for line in d["lines"]),
                    },
                )
            )
            out.cancel.append(
                (event.merchant_id, d["customer_id"], "cart_reminder", None, "cancelled: the order arrived")
            )
        elif event.type == "cart.updated":
            due = event.occurred_at + CART_REMINDER_DELAY
            facts = {
                "recovery_url": d["recovery_url"],
                "total_minor": d["total_minor"],
                "currency": d["currency"],
                "items": sum(line.get("quantity", 1) for line in d["lines"]),
            }
            trigger = f"cart:reminder:{d['cart_id']}"
            if d["lines"]:
                out.replace.append(_request(event, "cart_reminder", trigger, "marketing", due, facts))
            else:  # emptied: nothing to remind of
                out.cancel.append((event.merchant_id, d["customer_id"], "cart_reminder", trigger, "cancelled: emptied"))
        elif event.type == "cart.checked_out":
            trigger = f"cart:reminder:{d['cart_id']}"
            out.cancel.append((event.merchant_id, d["customer_id"], "cart_reminder", trigger, "cancelled: checked out"))
        elif event.type == "tracking.order_delivered":
            due = datetime.fromisoformat(d["delivered_at"]) + REVIEW_REQUEST_DELAY
            trigger = f"review:request:{d['order_id']}"
            out.requests.append(
                _request(event, "review_request", trigger, "marketing", due, {"order_id": d["order_id"]})
            )
        elif event.type == "order.returned":
            trigger = f"review:request:{d['order_id']}"
            out.cancel.append((event.merchant_id, d["customer_id"], "review_request", trigger, "cancelled: returned"))
    return out


def _request(
    event: Envelope, template: str, trigger_id: str, category: str, due: datetime, facts: dict[str, object]
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
