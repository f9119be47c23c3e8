"""Loyalty's consumers: thin adapters from events to the pure rules and the ledger."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.common.consumer import Subscription
from services.common.envelope import Envelope, derived_event_id, new_envelope
from services.loyalty.adapters.ledger import NewEntry, add_to_balances, append_entries
from services.loyalty.domain.points import DEFAULT_RULE, points_for_order
from services.loyalty.metrics import LoyaltyMetrics

ORDER_TYPES = frozenset({"order.placed"})


async def handle_orders(conn: asyncpg.Connection, events: list[Envelope]) -> list[Envelope]:
    """order.placed → one `earn` entry per order and a `loyalty.points_earned` event."""
    entries = []
    order_numbers = {}
    for event in events:
        order_numbers[event.event_id] = event.data.get("order_number")
        points = points_for_order(event.data, DEFAULT_RULE)
        if points <= 0:
            continue
        entries.append(
            NewEntry(
                entry_id=derived_event_id(event.event_id, "loyalty.earn"),
                merchant_id=event.merchant_id,
                customer_id=event.data["customer_id"],
                kind="earn",
                points=points,
                reason_code="purchase",
                source_event_id=event.event_id,
                source_type=event.type,
                order_id=event.data["order_id"],
                rule_version=DEFAULT_RULE.version,
                occurred_at=event.occurred_at,
            )
        )
    written = await append_entries(conn, entries)
    fresh = [e for e in entries if e.entry_id in written]
    emitted: list[Envelope] = []
    by_merchant: dict[str, list[NewEntry]] = {}
    for entry in fresh:
        by_merchant.setdefault(entry.merchant_id, []).append(entry)
    for merchant_id, merchant_entries in by_merchant.items():
        deltas: dict[str, int] = {}
        for entry in merchant_entries:
            deltas[entry.customer_id] = deltas.get(entry.customer_id, 0) + entry.points
        final = await add_to_balances(conn, merchant_id, deltas)
        # Each event reports the balance right after its own entry: walk back from the batch's final balance.
        running = {c: final[c] - deltas[c] for c in deltas}
        for entry in merchant_entries:
            running[entry.customer_id] += entry.points
            emitted.append(
                new_envelope(
                    "loyalty.points_earned",
                    merchant_id,
                    {
                        "customer_id": entry.customer_id,
                        "order_id": entry.order_id,
                        **({"order_number": n} if (n := order_numbers.get(entry.source_event_id)) else {}),
                        "points": entry.points,
                        "balance": running[entry.customer_id],
                        "reason_code": entry.reason_code,
                        "ledger_entry_id": str(entry.entry_id),
                        "source_event_id": str(entry.source_event_id),
                    },
                    occurred_at=entry.occurred_at,
                    event_id=derived_event_id(entry.entry_id, "loyalty.points_earned"),
                )
            )
    return emitted


def subscriptions(metrics: LoyaltyMetrics | None = None) -> list[Subscription]:
    def count_points(emitted: Sequence[Envelope]) -> None:
        for event in emitted:
            if metrics is not None and event.type == "loyalty.points_earned":
                metrics.points_awarded.labels("earn").inc(event.data["points"])

    return [
        Subscription(
            name="loyalty.orders",
            topics=("shop.orders",),
            handle=handle_orders,
            event_types=ORDER_TYPES,
            on_committed=count_points,
        )
    ]
