"""Notifications' consumers: contacts from customer events, notification requests from triggers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from itertools import groupby

import asyncpg

from services.common.consumer import Subscription
from services.common.envelope import Envelope
from services.notifications.adapters.store import (
    cancel_pending,
    consenting_contacts,
    customers_with_orders,
    erase_customers,
    insert_requests,
    order_facts_of,
    record_consent,
    save_goodwill,
    save_order_facts,
    settings_of,
    upsert_contacts,
)
from services.notifications.domain import flows
from services.notifications.domain.consent import ConsentChange, consent_changes
from services.notifications.domain.messages import request_for

CONTACT_TYPES = frozenset({"customer.created", "customer.updated", "consent.changed", "customer.erasure_requested"})
#: Every service asks through notification.requested; notifications decides consent, timing and wording.
TRIGGER_TYPES = frozenset({"notification.requested"})
#: Shop events notifications acts on itself (domain/flows.py: its own flows and cancel-on-event).
SHOP_TYPES = frozenset(
    {
        "order.placed",
        "order.returned",
        "cart.updated",
        "cart.checked_out",
        "tracking.order_delivered",
        "review.submitted",
        "loyalty.points_earned",  # goodwill for a late parcel, for the delay apology
    }
)


async def handle_contacts(conn: asyncpg.Connection, events: list[Envelope]) -> list[Envelope]:
    # In stream order, a run of events of one kind at a time: an erasure wipes what came before it in the
    # batch, not what follows, and a batch of customer updates is still one statement.
    for kind, run in groupby(events, key=_contact_action):
        await kind(conn, list(run))
    return []


async def apply_consent(conn: asyncpg.Connection, events: list[Envelope]) -> None:
    settings = await settings_of(conn, sorted({e.merchant_id for e in events}))
    changes, confirmations = consent_changes(events, settings)
    asking = {(c.merchant_id, c.customer_id) for c in changes if c.action == "ask"}
    consenting = await consenting_contacts(conn, asking)
    changes = [c for c in changes if not _already_consenting(c, consenting)]
    asked = {(c.merchant_id, c.customer_id, c.at.isoformat()) for c in changes if c.action == "ask"}
    confirmations = [r for r in confirmations if (r.merchant_id, r.customer_id, r.context["asked_at"]) in asked]
    await record_consent(conn, changes)
    await insert_requests(conn, confirmations)


def _already_consenting(change: ConsentChange, consenting: set[tuple[str, str]]) -> bool:
    """An unconfirmed sign-up from someone who already consented changes nothing and asks nothing (stream order:
    a withdrawal earlier in the batch makes the next sign-up ask again)."""
    key = (change.merchant_id, change.customer_id)
    if change.action == "ask":
        return key in consenting
    if change.action == "grant":
        consenting.add(key)
    else:
        consenting.discard(key)
    return False


def _contact_action(event: Envelope) -> Callable[[asyncpg.Connection, list[Envelope]], Awaitable[None]]:
    if event.type == "consent.changed":
        return apply_consent
    if event.type == "customer.erasure_requested":
        return erase_customers
    return upsert_contacts


async def handle_triggers(conn: asyncpg.Connection, events: list[Envelope]) -> list[Envelope]:
    # `now` is the time the request is recorded; the sender decides against its own `now` later.
    now = datetime.now(UTC)
    requests = [r for r in (request_for(e, now) for e in events) if r is not None]
    await insert_requests(conn, requests)
    return []


async def handle_shop_events(conn: asyncpg.Connection, events: list[Envelope]) -> list[Envelope]:
    merchants = sorted({e.merchant_id for e in events})
    delivered = {(e.merchant_id, e.data["order_id"]) for e in events if e.type == "tracking.order_delivered"}
    ordering = {(e.merchant_id, e.data["customer_id"]) for e in events if e.type == "order.placed"}
    decisions = flows.decide(
        events,
        await settings_of(conn, merchants),
        await order_facts_of(conn, delivered),
        await customers_with_orders(conn, ordering),
    )
    await save_order_facts(conn, decisions.orders)
    await save_goodwill(conn, flows.goodwill_grants(events))
    # Cancellations first: flows.decide already applied them to this batch's own requests in stream order.
    suppressed = await cancel_pending(conn, decisions.cancel, datetime.now(UTC))
    await insert_requests(conn, decisions.requests)
    await insert_requests(conn, decisions.replace, replace=True)
    return suppressed


def subscriptions() -> list[Subscription]:
    return [
        Subscription(
            "notifications.flows",
            ("shop.orders", "shop.carts", "tracking.events", "shop.reviews", "loyalty.events"),
            handle_shop_events,
            SHOP_TYPES,
        ),
        Subscription("notifications.contacts", ("shop.customers",), handle_contacts, CONTACT_TYPES),
        Subscription("notifications.triggers", ("notifications.requests",), handle_triggers, TRIGGER_TYPES),
    ]
