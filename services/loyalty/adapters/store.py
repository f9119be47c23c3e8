"""Loads a `Book` for a set of customers and orders (locked), and writes it back set-based.

Lock order is always accounts (sorted) then orders (sorted), so workers that share customers through
different topics (orders by customer, tracking by order) queue instead of deadlocking.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from operator import itemgetter
from typing import Any

import asyncpg

from services.common.schedule import cancel_jobs, schedule_jobs
from services.loyalty.domain.book import Book
from services.loyalty.domain.model import Account, Order
from services.loyalty.domain.programme import Programme, ProgrammeConfig

_DATES = (
    "tier_since",
    "tier_review_at",
    "membership_until",
    "signed_up_at",
    "first_order_at",
    "last_activity_at",
    "erased_at",
)


def account_state(account: Account) -> dict[str, Any]:
    state: dict[str, Any] = {
        name: getattr(account, name).isoformat() if getattr(account, name) else None for name in _DATES
    }
    state.update(
        birthday=account.birthday.isoformat() if account.birthday else None,
        membership_plan=account.membership_plan,
        membership_status=account.membership_status,
        first_order_id=account.first_order_id,
        referred_by=account.referred_by,
        activity=account.activity,
    )
    return state


def account_from_row(row: asyncpg.Record) -> Account:
    state = row["state"] or {}
    account = Account(
        customer_id=row["customer_id"],
        available=row["available"],
        pending=row["pending"],
        lifetime_earned=row["lifetime_earned"],
        redeemed=row["redeemed"],
        expired=row["expired"],
        reversed=row["reversed"],
        debt=row["debt"],
        tier=row["tier"],
        membership_plan=state.get("membership_plan"),
        membership_status=state.get("membership_status"),
        first_order_id=state.get("first_order_id"),
        referred_by=state.get("referred_by"),
        activity=sorted(state.get("activity") or [], key=itemgetter(0)),  # sorted already: a linear pass
        birthday=date.fromisoformat(state["birthday"]) if state.get("birthday") else None,
    )
    for name in _DATES:
        if state.get(name):
            setattr(account, name, datetime.fromisoformat(state[name]))
    return account


async def load_book(
    conn: asyncpg.Connection,
    customers: Iterable[tuple[str, str]],
    orders: Iterable[tuple[str, str]] = (),
    *,
    create: bool = True,
) -> Book:
    book = Book()
    customer_keys = sorted(set(customers))
    if customer_keys:
        merchants, ids = [m for m, _ in customer_keys], [c for _, c in customer_keys]
        if create:  # rows exist before they are locked, so two workers never both start from zero
            await conn.execute(
                "INSERT INTO accounts (merchant_id, customer_id) SELECT * FROM unnest($1::text[], $2::text[]) "
                "ORDER BY 1, 2 ON CONFLICT DO NOTHING",
                merchants,
                ids,
            )
        rows = await conn.fetch(
            "SELECT a.* FROM accounts a JOIN unnest($1::text[], $2::text[]) AS k(m, c) "
            "ON a.merchant_id = k.m AND a.customer_id = k.c ORDER BY a.merchant_id, a.customer_id FOR UPDATE OF a",
            merchants,
            ids,
        )
        for row in rows:
            book.accounts[(row["merchant_id"], row["customer_id"])] = account_from_row(row)
    order_keys = sorted(set(orders))
    if order_keys:
        rows = await conn.fetch(
            "SELECT o.* FROM orders o JOIN unnest($1::text[], $2::text[]) AS k(m, o) "
            "ON o.merchant_id = k.m AND o.order_id = k.o ORDER BY o.merchant_id, o.order_id FOR UPDATE OF o",
            [m for m, _ in order_keys],
            [o for _, o in order_keys],
        )
        for row in rows:
            book.orders[(row["merchant_id"], row["order_id"])] = Order.from_json(
                row["order_id"], row["customer_id"], row["state"]
            )
    return book


async def save_book(conn: asyncpg.Connection, book: Book) -> set[uuid.UUID]:
    """Write entries, accounts, orders, jobs and codes; returns entry ids the ledger already had."""
    existing = await _insert_entries(conn, book)
    if existing:
        return existing
    accounts = sorted(book.dirty_accounts)
    if accounts:
        rows = [book.accounts[k] for k in accounts]
        await conn.execute(
            """
            INSERT INTO accounts AS a (merchant_id, customer_id, available, pending, lifetime_earned, redeemed,
                                       expired, reversed, debt, tier, state, updated_at)
            SELECT m, c, av, pe, li, re, ex, rv, de, ti, st, now()
            FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[],
                        $8::bigint[], $9::bigint[], $10::text[], $11::jsonb[])
                 AS u(m, c, av, pe, li, re, ex, rv, de, ti, st)
            ON CONFLICT (merchant_id, customer_id) DO UPDATE SET
                available = EXCLUDED.available, pending = EXCLUDED.pending, lifetime_earned = EXCLUDED.lifetime_earned,
                redeemed = EXCLUDED.redeemed, expired = EXCLUDED.expired, reversed = EXCLUDED.reversed,
                debt = EXCLUDED.debt, tier = EXCLUDED.tier, state = EXCLUDED.state, updated_at = now()
            """,
            [k[0] for k in accounts],
            [k[1] for k in accounts],
            [a.available for a in rows],
            [a.pending for a in rows],
            [a.lifetime_earned for a in rows],
            [a.redeemed for a in rows],
            [a.expired for a in rows],
            [a.reversed for a in rows],
            [a.debt for a in rows],
            [a.tier for a in rows],
            [account_state(a) for a in rows],
        )
    orders = sorted(book.dirty_orders)
    if orders:
        await conn.execute(
            """
            INSERT INTO orders AS o (merchant_id, order_id, customer_id, state, updated_at)
            SELECT *, now() FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[])
            ON CONFLICT (merchant_id, order_id) DO UPDATE SET state = EXCLUDED.state, updated_at = now()
            """,
            [k[0] for k in orders],
            [k[1] for k in orders],
            [book.orders[k].customer_id for k in orders],
            [book.orders[k].to_json() for k in orders],
        )
    await cancel_jobs(conn, sorted(book.cancelled_jobs))
    await schedule_jobs(conn, list(book.jobs.values()), replace=True)
    for code in book.codes:
        await conn.execute(
            "INSERT INTO codes (code, merchant_id, customer_id, kind, redemption_id, details, expires_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (redemption_id) DO NOTHING",
            code["code"],
            code["merchant_id"],
            code["customer_id"],
            code["kind"],
            code["redemption_id"],
            {
                k: v
                for k, v in code.items()
                if k in ("percent_off", "reward_id", "reward_type", "value_minor", "product_sku", "currency")
            },
            code["expires_at"],
        )
    return set()


async def _insert_entries(conn: asyncpg.Connection, book: Book) -> set[uuid.UUID]:
    if not book.entries:
        return set()
    entries = [e for _, e in book.entries]
    rows = await conn.fetch(
        """
        INSERT INTO ledger_entries (entry_id, merchant_id, customer_id, kind, bucket, points, reason_code,
                                    source_event_id, source_type, order_id, rule_version, occurred_at,
                                    reverses_entry_id, shortfall, shipment_id, note)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[],
                             $8::uuid[], $9::text[], $10::text[], $11::int[], $12::timestamptz[], $13::uuid[],
                             $14::int[], $15::text[], $16::text[])
        ON CONFLICT DO NOTHING
        RETURNING entry_id
        """,
        [e.entry_id for e in entries],
        [m for m, _ in book.entries],
        [e.customer_id for e in entries],
        [e.kind for e in entries],
        [e.bucket for e in entries],
        [e.points for e in entries],
        [e.reason_code for e in entries],
        [e.source_event_id for e in entries],
        [e.source_type for e in entries],
        [e.order_id for e in entries],
        [e.rule_version for e in entries],
        [e.occurred_at for e in entries],
        [e.reverses_entry_id for e in entries],
        [e.shortfall for e in entries],
        [e.shipment_id for e in entries],
        [e.note for e in entries],
    )
    written = {r["entry_id"] for r in rows}
    return {e.entry_id for e in entries} - written


async def current_programmes(conn: asyncpg.Connection | asyncpg.Pool, merchants: Iterable[str]) -> dict[str, Programme]:
    rows = await conn.fetch(
        "SELECT DISTINCT ON (merchant_id) merchant_id, version, config FROM programmes "
        "WHERE merchant_id = ANY($1::text[]) ORDER BY merchant_id, version DESC",
        sorted(set(merchants)),
    )
    return {
        r["merchant_id"]: Programme(version=r["version"], config=ProgrammeConfig.model_validate(r["config"]))
        for r in rows
    }


async def mark_codes_used(conn: asyncpg.Connection, uses: list[tuple[str, str, str, datetime]]) -> int:
    """(merchant, code, order_id, at): a code the shop accepted at checkout is spent; only its first use counts."""
    if not uses:
        return 0
    result = await conn.execute(
        """
        UPDATE codes c SET used_at = u.at, details = c.details || jsonb_build_object('used_by_order', u.order_id)
        FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS u(m, code, order_id, at)
        WHERE c.merchant_id = u.m AND c.code = u.code AND c.used_at IS NULL
        """,
        [u[0] for u in uses],
        [u[1] for u in uses],
        [u[2] for u in uses],
        [u[3] for u in uses],
    )
    return int(result.rsplit(" ", 1)[-1])
