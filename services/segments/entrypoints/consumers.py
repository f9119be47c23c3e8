"""Segments' consumers: orders and customers fold into profiles."""

from __future__ import annotations

import asyncpg

from services.common.consumer import Subscription
from services.common.envelope import Envelope, derived_event_id, new_envelope
from services.segments.domain.profiles import Profile, apply_order

ORDER_TYPES = frozenset({"order.placed"})
CUSTOMER_TYPES = frozenset({"customer.created", "customer.updated"})


def in_lock_order(events: list[Envelope]) -> list[Envelope]:
    """Both consumers lock profile rows; taking them in one global order avoids deadlocks between them.

    The sort is stable, so one customer's events keep their order.
    """
    return sorted(events, key=lambda e: (e.merchant_id, e.data["customer_id"]))


async def handle_orders(conn: asyncpg.Connection, events: list[Envelope]) -> list[Envelope]:
    emitted = []
    for event in in_lock_order(events):
        d = event.data
        row = await conn.fetchrow(
            "SELECT order_count, revenue_minor, currency, first_order_at, last_order_at FROM profiles "
            "WHERE merchant_id = $1 AND customer_id = $2 FOR UPDATE",
            event.merchant_id,
            d["customer_id"],
        )
        profile = apply_order(
            Profile(**dict(row)) if row else Profile(), d["total_minor"], d["currency"], event.occurred_at
        )
        await conn.execute(
            "INSERT INTO profiles (merchant_id, customer_id, order_count, revenue_minor, currency, first_order_at, "
            "last_order_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (merchant_id, customer_id) DO UPDATE SET "
            "order_count = $3, revenue_minor = $4, currency = $5, first_order_at = $6, last_order_at = $7",
            event.merchant_id,
            d["customer_id"],
            profile.order_count,
            profile.revenue_minor,
            profile.currency,
            profile.first_order_at,
            profile.last_order_at,
        )
        emitted.append(
            new_envelope(
                "segments.profile_updated",
                event.merchant_id,
                {
                    "customer_id": d["customer_id"],
                    "order_count": profile.order_count,
                    "revenue_minor": profile.revenue_minor,
                    "currency": profile.currency,
                },
                occurred_at=event.occurred_at,
                event_id=derived_event_id(event.event_id, "segments.profile_updated"),
            )
        )
    return emitted


async def handle_customers(conn: asyncpg.Connection, events: list[Envelope]) -> list[Envelope]:
    for event in in_lock_order(events):
        d = event.data
        address = d.get("address") or {}
        await conn.execute(
            "INSERT INTO profiles (merchant_id, customer_id, city, postcode, country, channel) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (merchant_id, customer_id) DO UPDATE SET "
            "city = coalesce($3, profiles.city), postcode = coalesce($4, profiles.postcode), "
            "country = coalesce($5, profiles.country), channel = coalesce($6, profiles.channel)",
            event.merchant_id,
            d["customer_id"],
            address.get("city"),
            address.get("postcode"),
            address.get("country"),
            d.get("acquisition_channel"),
        )
    return []


def subscriptions() -> list[Subscription]:
    return [
        Subscription("segments.orders", ("shop.orders",), handle_orders, ORDER_TYPES),
        Subscription("segments.customers", ("shop.customers",), handle_customers, CUSTOMER_TYPES),
    ]
