"""The ledger in PostgreSQL: set-based writes for a whole micro-batch, balances as sums."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True)
class NewEntry:
    entry_id: uuid.UUID
    merchant_id: str
    customer_id: str
    kind: str
    points: int
    reason_code: str
    source_event_id: uuid.UUID
    source_type: str
    order_id: str | None
    rule_version: int
    occurred_at: datetime


async def append_entries(conn: asyncpg.Connection, entries: list[NewEntry]) -> set[uuid.UUID]:
    """Insert in one statement; returns the entry ids actually written (others already existed)."""
    if not entries:
        return set()
    rows = await conn.fetch(
        """
        INSERT INTO ledger_entries (entry_id, merchant_id, customer_id, kind, points, reason_code,
                                    source_event_id, source_type, order_id, rule_version, occurred_at)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[],
                             $7::uuid[], $8::text[], $9::text[], $10::int[], $11::timestamptz[])
        ON CONFLICT (merchant_id, source_event_id, kind) DO NOTHING
        RETURNING entry_id
        """,
        [e.entry_id for e in entries],
        [e.merchant_id for e in entries],
        [e.customer_id for e in entries],
        [e.kind for e in entries],
        [e.points for e in entries],
        [e.reason_code for e in entries],
        [e.source_event_id for e in entries],
        [e.source_type for e in entries],
        [e.order_id for e in entries],
        [e.rule_version for e in entries],
        [e.occurred_at for e in entries],
    )
    return {r["entry_id"] for r in rows}


async def add_to_balances(conn: asyncpg.Connection, merchant_id: str, deltas: dict[str, int]) -> dict[str, int]:
    """Add each customer's points of this batch to the balance projection; returns the new balances.

    Called in the transaction that wrote the entries, so the projection always equals sum(points).
    Rows are touched in sorted order so concurrent workers never deadlock on them.
    """
    if not deltas:
        return {}
    customers = sorted(deltas)
    rows = await conn.fetch(
        """
        INSERT INTO balances AS b (merchant_id, customer_id, balance)
        SELECT $1, * FROM unnest($2::text[], $3::bigint[])
        ON CONFLICT (merchant_id, customer_id) DO UPDATE SET balance = b.balance + EXCLUDED.balance
        RETURNING customer_id, balance
        """,
        merchant_id,
        customers,
        [deltas[c] for c in customers],
    )
    return {r["customer_id"]: r["balance"] for r in rows}


async def customer_summary(pool: asyncpg.Pool, merchant_id: str, customer_id: str) -> dict[str, object] | None:
    row = await pool.fetchrow(
        "SELECT coalesce(sum(points), 0)::bigint AS balance, "
        "coalesce(sum(points) FILTER (WHERE points > 0), 0)::bigint AS lifetime_earned, "
        "count(*) AS entries, max(occurred_at) AS last_activity_at "
        "FROM ledger_entries WHERE merchant_id = $1 AND customer_id = $2",
        merchant_id,
        customer_id,
    )
    if row is None or row["entries"] == 0:
        return None
    return dict(row)


async def recent_entries(
    pool: asyncpg.Pool, merchant_id: str, customer_id: str, limit: int = 50
) -> list[dict[str, object]]:
    rows = await pool.fetch(
        "SELECT entry_id, kind, points, reason_code, order_id, source_type, occurred_at, rule_version "
        "FROM ledger_entries WHERE merchant_id = $1 AND customer_id = $2 ORDER BY id DESC LIMIT $3",
        merchant_id,
        customer_id,
        limit,
    )
    return [dict(r) for r in rows]
