"""Loyalty's consumer: one batch of events → the rules → ledger, accounts, orders, jobs, outbox."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from services.common.consumer import Subscription
from services.common.envelope import Envelope
from services.common.erasures import record_erasures
from services.loyalty.adapters.codes import new_code
from services.loyalty.adapters.store import current_programmes, load_book, mark_codes_used, save_book
from services.loyalty.domain.book import Book
from services.loyalty.domain.engine import EVENT_TYPES, Engine
from services.loyalty.metrics import LoyaltyMetrics

TOPICS = ("shop.orders", "shop.customers", "shop.reviews", "tracking.events", "loyalty.requests")
_ORDER_TYPES = frozenset(
    {"order.placed", "order.paid", "order.cancelled", "order.refunded", "order.returned", "tracking.order_delivered"}
)


class _Rerun(Exception):
    def __init__(self, existing: set) -> None:
        self.existing = existing


async def apply_with_book(
    conn: asyncpg.Connection,
    customers: set[tuple[str, str]],
    orders: set[tuple[str, str]],
    merchants: set[str],
    rules: Callable[[Engine, Book], None],
    *,
    create_accounts: bool = True,
) -> Book:
    """Load (locked), decide, save — inside a savepoint, rerun when the ledger already had an entry.

    The rerun happens when one cause reached loyalty under two event ids (e.g. a review resent by the
    shop with a new event id): the second time the rules see the entry as known and skip it.
    """
    programmes = await current_programmes(conn, merchants)
    known: set = set()
    for _ in range(3):
        try:
            async with conn.transaction():
                book = await load_book(conn, customers, orders, create=create_accounts)
                book.known_entry_ids = set(known)
                rules(Engine(programmes, new_code), book)
                existing = await save_book(conn, book)
                if existing:
                    raise _Rerun(existing)
                return book
        except _Rerun as rerun:
            known |= rerun.existing
    raise RuntimeError(f"ledger entries keep conflicting: {sorted(map(str, known))[:5]}")


async def handle_events(conn: asyncpg.Connection, events: list[Envelope]) -> list[Envelope]:
    customers = {(e.merchant_id, e.data["customer_id"]) for e in events}
    orders = {(e.merchant_id, e.data["order_id"]) for e in events if e.type in _ORDER_TYPES}

    def rules(engine: Engine, book: Book) -> None:
        for event in events:
            engine.handle(book, event)

    book = await apply_with_book(conn, customers, orders, {e.merchant_id for e in events}, rules)
    await record_erasures(conn, events)
    await mark_codes_used(
        conn,
        [
            (e.merchant_id, code.upper(), e.data["order_id"], e.occurred_at)
            for e in events
            if e.type == "order.placed"
            for code in e.data.get("discount_codes", ())
        ],
    )
    return book.emitted


def subscriptions(metrics: LoyaltyMetrics | None = None) -> list[Subscription]:
    return [
        Subscription(
            name="loyalty.orders",
            topics=TOPICS,
            handle=handle_events,
            event_types=EVENT_TYPES,
            on_committed=metrics.count if metrics else None,
        )
    ]
