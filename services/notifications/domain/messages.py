"""Pure decisions: which notification a trigger creates, and whether it may be sent now."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.common.envelope import Envelope

_TRIGGERS = uuid.UUID("3e9c1d2a-7b4f-4c8e-a1d5-6f0b2c9e8a47")
SUPPORTED_LOCALES = ("de", "en")
#: How long a notification waits for its contact (customer.created may arrive after the trigger).
CONTACT_WAIT = timedelta(hours=1)
#: The delay apology waits this long for loyalty's goodwill points for the same delay, to mention them.
GOODWILL_WAIT = timedelta(minutes=2)
#: A trigger older than this never mails the customer (a backfill, a long outage): the news is stale.
MAX_TRIGGER_AGE = timedelta(days=3)
#: The marketing frequency budget across all flows: at most this many per customer in the window. Mail over
#: budget is deferred to the next free slot, never dropped; transactional mail neither counts nor waits.
MARKETING_BUDGET = 3
MARKETING_WINDOW = timedelta(days=7)
#: Marketing mail waits for the morning in the customer's time zone; transactional mail never waits.
QUIET_FROM, QUIET_UNTIL = time(21, 0), time(8, 0)
DEFAULT_TIME_ZONE = "Europe/Berlin"


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
    category: str = "transactional"
    trigger_id: str | None = None
    trigger_at: datetime | None = None


@dataclass(frozen=True)
class Contact:
    email: str | None
    first_name: str | None
    last_name: str | None
    salutation: str | None
    locale: str
    marketing_consent: bool = False
    time_zone: str | None = None
    #: The address hard-bounced: nothing goes to it until the shop sends another.
    bounced: bool = False


class Decision(NamedTuple):
    verdict: str  # send | wait (contact unknown yet) | defer (until a time) | suppress
    reason: str | None = None
    until: datetime | None = None


def request_for(event: Envelope, now: datetime) -> NotificationRequest | None:
    """Map a trigger event to the notification it asks for (None: nothing to send)."""
    if event.type == "notification.requested":
        return _requested(event, now)
    return None


def trigger_notification_id(merchant_id: str, trigger_id: str) -> uuid.UUID:
    """One notification per merchant and trigger, whoever asks and however often."""
    return uuid.uuid5(_TRIGGERS, f"{merchant_id}\x1f{trigger_id}")


def _requested(event: Envelope, now: datetime) -> NotificationRequest:
    """A service asked to tell a customer something: one notification per merchant and trigger, however often
    the request arrives (the id comes from the trigger, not the event)."""
    d = event.data
    not_before = datetime.fromisoformat(d["send_after"]) if d.get("send_after") else now
    if d["message"] == "delay_apology":  # loyalty's goodwill for the same delay arrives on its own topic
        not_before = max(not_before, event.occurred_at + GOODWILL_WAIT)
    context = dict(d.get("variables") or {})
    for key in ("order_id", "shipment_id"):
        if d.get(key):
            context.setdefault(key, d[key])
    return NotificationRequest(
        notification_id=trigger_notification_id(event.merchant_id, d["trigger_id"]),
        merchant_id=event.merchant_id,
        customer_id=d["customer_id"],
        template=d["message"],
        context=context,
        trigger_event=event.event_id,
        not_before=not_before,
        give_up_at=max(not_before, now) + CONTACT_WAIT,
        category=d["category"],
        trigger_id=d["trigger_id"],
        # staleness counts from the cause, or for a delayed message from the time it was meant to go
        trigger_at=max(event.occurred_at, not_before) if d.get("send_after") else event.occurred_at,
    )


def resolve_locale(locale: str | None) -> str:
    """'de-AT' → 'de'; anything we have no template for falls back to German, the seeds' language."""
    language = (locale or "de").replace("_", "-").split("-")[0].lower()
    return language if language in SUPPORTED_LOCALES else "de"


@dataclass(frozen=True)
class SendingPolicy:
    """A merchant's marketing limits (their settings; these defaults otherwise)."""

    budget_mails: int = MARKETING_BUDGET
    budget_window: timedelta = MARKETING_WINDOW
    quiet_from: time = QUIET_FROM
    quiet_until: time = QUIET_UNTIL


def send_decision(
    contact: Contact | None,
    now: datetime,
    give_up_at: datetime,
    category: str = "transactional",
    *,
    trigger_at: datetime | None = None,
    max_age: timedelta = MAX_TRIGGER_AGE,
    recent_marketing: list[datetime] | None = None,
    policy: SendingPolicy = SendingPolicy(),
    switched_off: bool = False,
) -> Decision:
    """What to do with a due notification, decided at sending time with `now` passed in: consent, the contact
    and the merchant's settings are read now, not when the trigger arrived."""
    if switched_off:
        return Decision("suppress", "message switched off by the merchant")
    if trigger_at is not None and now - trigger_at > max_age:
        return Decision("suppress", f"stale: the trigger is older than {max_age.days} days (a backfill?)")
    if contact is None:
        return Decision("suppress", "no contact record for this customer") if now >= give_up_at else Decision("wait")
    if not contact.email:
        return Decision("suppress", "contact has no email address")
    if contact.bounced:
        return Decision("suppress", "the address bounced (hard bounce)")
    if category == "marketing":
        if not contact.marketing_consent:
            return Decision("suppress", "no marketing consent")
        window, budget = policy.budget_window, policy.budget_mails
        sent = sorted(t for t in recent_marketing or () if t > now - window)
        if len(sent) >= budget:  # the next slot opens when the oldest counted mail leaves the window
            reason = f"frequency budget: {budget} marketing mails in {window.days} days"
            return Decision("defer", reason, sent[-budget] + window)
        until = quiet_hours_end(now, contact.time_zone, policy.quiet_from, policy.quiet_until)
        if until is not None:
            return Decision("defer", "quiet hours in the customer's time zone", until)
    return Decision("send")


def quiet_hours_end(
    now: datetime, time_zone: str | None, quiet_from: time = QUIET_FROM, quiet_until: time = QUIET_UNTIL
) -> datetime | None:
    """When the customer's quiet hours end, if they are on there now (default 21:00-08:00 local); None else."""
    if quiet_from == quiet_until:
        return None
    try:
        zone = ZoneInfo(time_zone or DEFAULT_TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo(DEFAULT_TIME_ZONE)
    local = now.astimezone(zone)
    t = local.time()
    overnight = quiet_from > quiet_until
    quiet = (t >= quiet_from or t < quiet_until) if overnight else (quiet_from <= t < quiet_until)
    if not quiet:
        return None
    day = local.date() if t < quiet_until else local.date() + timedelta(days=1)
    return datetime.combine(day, quiet_until, tzinfo=zone)


#: Facts a template may mention that not every request carries: present as None, so templates can test them.
OPTIONAL_FACTS = (
    "order_id",
    "order_number",
    "tracking_number",
    "tracking_url",
    "tracking_page_url",
    "carrier",
    "estimated_delivery_date",
    "promised_delivery_date",
    "valid_until",
    "reason",
    "free_shipping",
    "goodwill_points",
    "points",
    "code",
    "percent_off",
    "code_expires_at",
    "last_order_at",
    "shop_url",
    "title",
    "body",
    "offer",
    "products",
    "customer_email",
)
CARRIER_NAMES = {"dhl": "DHL", "dpd": "DPD", "gls": "GLS", "hermes": "Hermes", "ups": "UPS"}


def greeting(
    locale: str,
    *,
    formal: bool = False,
    first_name: str | None = None,
    last_name: str | None = None,
    salutation: str | None = None,
) -> str:
    """'Hallo Anna,' / formal 'Guten Tag Frau Schmidt,' (the Anrede the customer chose) / 'Hello Anna,'."""
    if locale == "de":
        if not formal:
            return f"Hallo {first_name}," if first_name else "Hallo,"
        if salutation in ("frau", "herr") and last_name:
            return f"Guten Tag {salutation.capitalize()} {last_name},"
        name = " ".join(p for p in (first_name, last_name) if p)
        return f"Guten Tag {name}," if name else "Guten Tag,"
    return f"Hello {first_name}," if first_name else "Hello,"


def sign_off(locale: str, *, formal: bool = False) -> str:
    if locale == "de":
        return "Freundliche Grüße" if formal else "Viele Grüße"
    return "Kind regards"


def template_context(
    context: dict[str, Any],
    first_name: str | None,
    merchant_name: str,
    *,
    last_name: str | None = None,
    salutation: str | None = None,
    formal: bool = False,
    legal_footer: str | None = None,
    brand_colour: str | None = None,
    brand_logo_url: str | None = None,
) -> dict[str, Any]:
    """What a template sees: the request's facts, the optional ones defaulted, and a few derived ones."""
    facts: dict[str, Any] = {**dict.fromkeys(OPTIONAL_FACTS), **context}
    facts["carrier_name"] = CARRIER_NAMES.get(facts["carrier"] or "")
    facts["link"] = facts["tracking_page_url"] or facts["tracking_url"]  # our page first, the carrier's else
    facts["earn_multiplier"] = str(facts.get("earn_multiplier") or "1")
    facts["first_name"], facts["merchant_name"] = first_name, merchant_name
    facts["last_name"], facts["salutation"], facts["formal"] = last_name, salutation, formal
    facts["legal_footer"] = legal_footer or None
    if brand_colour:
        facts["brand_colour"] = brand_colour
    facts["brand_logo_url"] = brand_logo_url
    return facts
