"""Pure decisions: which notification a trigger creates, and whether it may be sent now."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.common.envelope import Envelope, derived_event_id

SUPPORTED_LOCALES = ("de", "en")
#: How long a notification waits for its contact (customer.created may arrive after the trigger).
CONTACT_WAIT = timedelta(hours=1)


@dataclass(frozen=True)
class NotificationRequest:
    notification_id: uuid.UUID
    merchant_id: str
    customer_id: str
    template: str
    context: dict[str, Any]
    trigger_event: uuid.UUID
    not_before: datetime
    give_up_at: datetime


@dataclass(frozen=True)
class Contact:
    email: str | None
    first_name: str | None
    last_name: str | None
    salutation: str | None
    locale: str


def request_for(event: Envelope, now: datetime) -> NotificationRequest | None:
    """Map a trigger event to the notification it asks for (None: nothing to send)."""
    if event.type == "loyalty.points_earned":
        return NotificationRequest(
            notification_id=derived_event_id(event.event_id, "notification:points_earned"),
            merchant_id=event.merchant_id,
            customer_id=event.data["customer_id"],
            template="points_earned",
            context={
                "points": event.data["points"],
                "balance": event.data["balance"],
                "order_id": event.data.get("order_number") or event.data.get("order_id"),
            },
            trigger_event=event.event_id,
            not_before=now,
            give_up_at=now + CONTACT_WAIT,
        )
    return None


def resolve_locale(locale: str | None) -> str:
    """'de-AT' → 'de'; anything we have no template for falls back to German, the seeds' language."""
    language = (locale or "de").replace("_", "-").split("-")[0].lower()
    return language if language in SUPPORTED_LOCALES else "de"


def send_decision(contact: Contact | None, now: datetime, give_up_at: datetime) -> tuple[str, str | None]:
    """'send', 'wait' (contact not known yet) or 'suppress' with a reason."""
    if contact is None:
        return ("suppress", "no contact record for this customer") if now >= give_up_at else ("wait", None)
    if not contact.email:
        return "suppress", "contact has no email address"
    return "send", None
