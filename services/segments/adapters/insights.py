"""Reads and writes behind KPIs, predictions and audiences; every statement scoped by the merchant."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg

from services.segments.domain.audiences import AudienceMember
from services.segments.domain.kpis import OrderFact
from services.segments.domain.predictions import Prediction

PAGE = 2_000


async def order_facts(conn: asyncpg.Connection, merchant_id: str, before: datetime | None = None) -> list[OrderFact]:
    rows = await conn.fetch(
        "SELECT customer_id, order_id, placed_at, greatest(0, total_minor - refunded_minor) AS net, channel, cancelled "
        "FROM orders WHERE merchant_id = $1 AND ($2::timestamptz IS NULL OR placed_at < $2)",
        merchant_id,
        before,
    )
    return [OrderFact(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


async def members(conn: asyncpg.Connection, merchant_id: str, segment_id: str) -> set[str]:
    rows = await conn.fetch(
        "SELECT customer_id FROM profiles WHERE merchant_id = $1 AND memberships ? $2", merchant_id, segment_id
    )
    return {r[0] for r in rows}


def audience_member(customer_id: str, doc: dict[str, Any]) -> AudienceMember:
    person = doc.get("person") or {}
    return AudienceMember(
        customer_id, person.get("email"), person.get("phone"), person.get("first_name"), person.get("last_name"),
        doc.get("postcode"), doc.get("city"), doc.get("country"),
    )  # fmt: skip


async def audience_pages(pool: asyncpg.Pool, merchant_id: str, segment_id: str) -> AsyncIterator[list[AudienceMember]]:
    """Members with advertising consent who are not erased, page by page (a streamed download never holds all)."""
    after = ""
    while True:
        rows = await pool.fetch(
            "SELECT customer_id, doc FROM profiles WHERE merchant_id = $1 AND memberships ? $2 "
            "AND advertising_consent AND NOT erased AND customer_id > $3 ORDER BY customer_id LIMIT $4",
            merchant_id,
            segment_id,
            after,
            PAGE,
        )
        if not rows:
            return
        yield [audience_member(r["customer_id"], r["doc"]) for r in rows]
        after = rows[-1]["customer_id"]


async def eligible_members(conn: asyncpg.Connection, merchant_id: str, segment_id: str) -> dict[str, AudienceMember]:
    rows = await conn.fetch(
        "SELECT customer_id, doc FROM profiles WHERE merchant_id = $1 AND memberships ? $2 "
        "AND advertising_consent AND NOT erased",
        merchant_id,
        segment_id,
    )
    return {r["customer_id"]: audience_member(r["customer_id"], r["doc"]) for r in rows}


async def exported(conn: asyncpg.Connection, merchant_id: str, segment_id: str) -> dict[str, dict[str, str]]:
    rows = await conn.fetch(
        "SELECT customer_id, row FROM audience_exports WHERE merchant_id = $1 AND segment_id = $2",
        merchant_id,
        segment_id,
    )
    return {r["customer_id"]: r["row"] for r in rows}


async def record_export(
    conn: asyncpg.Connection,
    merchant_id: str,
    segment_id: str,
    added: dict[str, dict[str, str]],
    removed: list[str],
    now: datetime,
) -> None:
    if removed:
        await conn.execute(
            "DELETE FROM audience_exports WHERE merchant_id = $1 AND segment_id = $2 AND customer_id = ANY($3::text[])",
            merchant_id,
            segment_id,
            removed,
        )
    if added:
        await conn.executemany(
            "INSERT INTO audience_exports (merchant_id, segment_id, customer_id, row) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (merchant_id, segment_id, customer_id) DO UPDATE SET row = $4",
            [(merchant_id, segment_id, c, row) for c, row in added.items()],
        )
    await conn.execute(
        "UPDATE audience_destinations SET last_synced_at = $3, last_added = $4, last_removed = $5 "
        "WHERE merchant_id = $1 AND segment_id = $2",
        merchant_id, segment_id, now, len(added), len(removed),
    )  # fmt: skip


async def save_predictions(
    conn: asyncpg.Connection,
    merchant_id: str,
    status: str,
    params: dict[str, Any],
    predictions: dict[str, Prediction],
    now: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO prediction_models (merchant_id, status, params, customers, fitted_at) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (merchant_id) DO UPDATE SET status = $2, params = $3, customers = $4, fitted_at = $5",
        merchant_id, status, params, len(predictions), now,
    )  # fmt: skip
    await conn.execute("DELETE FROM predictions WHERE merchant_id = $1", merchant_id)
    await conn.copy_records_to_table(
        "predictions",
        records=[
            (
                merchant_id,
                c,
                p.probability_active,
                p.expected_orders_12m,
                p.predicted_clv_12m_minor,
                p.expected_next_order_at,
                now,
            )
            for c, p in predictions.items()
        ],
        columns=[
            "merchant_id",
            "customer_id",
            "probability_active",
            "expected_orders_12m",
            "predicted_clv_12m_minor",
            "expected_next_order_at",
            "computed_at",
        ],
    )
