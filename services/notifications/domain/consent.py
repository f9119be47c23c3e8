"""E-mail marketing consent from `consent.changed`, with double opt-in (pure).

German courts expect proof that the owner of an address asked for marketing mail: the click on a link sent to
that address. So a sign-up the shop has not confirmed itself (`double_opt_in_confirmed`, or a consent whose
source is the shop's own double opt-in) is not consent yet: it sends a confirmation mail and waits for the
click. A merchant whose shop runs double opt-in itself switches this off (`double_opt_in: false`): then a
sign-up the shop marks as not yet confirmed waits for the shop's confirmed one, and one without the mark counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from services.common.envelope import Envelope
from services.notifications.domain.messages import CONTACT_WAIT, NotificationRequest, trigger_notification_id
from services.notifications.domain.settings import NotificationSettings

DEFAULTS = NotificationSettings()


@dataclass(frozen=True)
class ConsentChange:
    merchant_id: str
    customer_id: str
    #: grant | withdraw | ask (a confirmation mail goes out; consent waits for the click)
    action: str
    at: datetime
    source: str


def consent_changes(
    events: list[Envelope], settings: Mapping[str, NotificationSettings]
) -> tuple[list[ConsentChange], list[NotificationRequest]]:
    changes, confirmations = [], []
    for event in events:
        d = event.data
        if d["purpose"] != "marketing" or d["channel"] != "email":
            continue
        s = settings.get(event.merchant_id, DEFAULTS)
        confirmed = d.get("double_opt_in_confirmed") is True or d.get("source") == "double_opt_in"
        if not d["granted"]:
            action = "withdraw"
        elif confirmed or (not s.double_opt_in and "double_opt_in_confirmed" not in d):
            action = "grant"
        elif not s.double_opt_in:
            continue  # the shop runs double opt-in itself and says it is still open: wait for its confirmation
        else:
            action = "ask"
            confirmations.append(confirmation_request(event.merchant_id, d["customer_id"], event.occurred_at, event))
        changes.append(ConsentChange(event.merchant_id, d["customer_id"], action, event.occurred_at, d["source"]))
    return changes, confirmations


def confirmation_request(
    merchant_id: str, customer_id: str, asked_at: datetime, cause: Envelope | None = None
) -> NotificationRequest:
    """The confirmation mail: a service mail to the address itself (no consent needed, never deferred)."""
    trigger = f"opt-in:{customer_id}:{asked_at.isoformat()}"
    return NotificationRequest(
        notification_id=trigger_notification_id(merchant_id, trigger),
        merchant_id=merchant_id,
        customer_id=customer_id,
        template="opt_in_confirmation",
        context={"asked_at": asked_at.isoformat()},
        trigger_event=cause.event_id if cause else trigger_notification_id(merchant_id, f"{trigger}:api"),
        not_before=asked_at,
        give_up_at=asked_at + CONTACT_WAIT,
        category="transactional",
        trigger_id=trigger,
        trigger_at=asked_at,
    )
