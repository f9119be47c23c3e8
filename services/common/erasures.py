"""Proof that a service applied an erasure (GDPR Art. 17), for the gateway's erasure status resource.

Every service records each `customer.erasure_requested` it applied in its own `erasures` table, inside the
transaction that erased the customer: a row exists exactly when that service's erasure is committed. The gateway
asks each service for the row (`GET /internal/v1/merchants/{merchant_id}/privacy/erasures/{request_id}`) and calls
the request complete once all of them have one. The rows hold ids and a time, no personal data.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any

import asyncpg
from fastapi import APIRouter, Path

from services.common.envelope import ID_PATTERN, Envelope
from services.common.http import problem

if TYPE_CHECKING:
    from services.common.service_app import Runtime

ERASURE = "customer.erasure_requested"


async def record_erasures(conn: asyncpg.Connection, events: Iterable[Envelope]) -> None:
    """In the erasing transaction: the erasure requests among `events` are applied (others are ignored)."""
    rows = [(e.merchant_id, e.data["request_id"], e.data["customer_id"]) for e in events if e.type == ERASURE]
    if rows:
        await conn.executemany(
            "INSERT INTO erasures (merchant_id, request_id, customer_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            rows,
        )


async def erased_customers(conn: asyncpg.Connection, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (merchant_id, customer_id) this service has erased: one query for a whole batch.

    The tombstone against late events: an event published before an erasure but applied after it (another topic, a
    retried batch) must not bring the person's data back, so a service strips or skips it for these customers. An
    erased customer id stays erased, as in segments.
    """
    wanted = sorted(set(keys))
    if not wanted:
        return set()
    rows = await conn.fetch(
        "SELECT DISTINCT e.merchant_id, e.customer_id FROM erasures e "
        "JOIN unnest($1::text[], $2::text[]) AS k(m, c) ON e.merchant_id = k.m AND e.customer_id = k.c",
        [m for m, _ in wanted],
        [c for _, c in wanted],
    )
    return {(r["merchant_id"], r["customer_id"]) for r in rows}


async def erasure_of(pool: asyncpg.Pool, merchant_id: str, request_id: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(
        "SELECT request_id, customer_id, erased_at FROM erasures WHERE merchant_id = $1 AND request_id = $2 "
        "ORDER BY erased_at LIMIT 1",
        merchant_id,
        request_id,
    )
    return dict(row) if row is not None else None


async def erasures_of_customer(pool: asyncpg.Pool, merchant_id: str, customer_id: str) -> list[dict[str, Any]]:
    """For an export: the erasures already applied to the customer (an erased customer may come back)."""
    rows = await pool.fetch(
        "SELECT request_id, erased_at FROM erasures WHERE merchant_id = $1 AND customer_id = $2 ORDER BY erased_at",
        merchant_id,
        customer_id,
    )
    return [dict(r) for r in rows]


def add_erasure_route(api: APIRouter, runtime: Runtime) -> None:
    """`GET {api.prefix}/privacy/erasures/{request_id}` on a router prefixed `/internal/v1/merchants/{merchant_id}`."""

    @api.get("/privacy/erasures/{request_id}")
    async def erasure_confirmation(merchant_id: str, request_id: Annotated[str, Path(pattern=ID_PATTERN)]) -> Any:
        """When this service applied the erasure request; 404 until it has."""
        found = await erasure_of(runtime.pool, merchant_id, request_id)
        if found is None:
            return problem(404, "Erasure not applied", f"{runtime.service} has not applied {request_id} (yet)")
        return found
