"""Erasure requests made through the gateway, in its own schema (ids and times only, no personal data)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg


async def record_request(
    pool: asyncpg.Pool,
    merchant_id: str,
    request_id: uuid.UUID,
    customer_id: str,
    requested_by: str,
    event_id: uuid.UUID,
    requested_at: datetime,
) -> None:
    await pool.execute(
        "INSERT INTO erasure_requests (merchant_id, request_id, customer_id, requested_by, event_id, requested_at) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        merchant_id,
        request_id,
        customer_id,
        requested_by,
        event_id,
        requested_at,
    )


async def find_request(pool: asyncpg.Pool, merchant_id: str, request_id: uuid.UUID) -> dict[str, Any] | None:
    """The merchant's request; another merchant's is not found, like one that never existed."""
    row = await pool.fetchrow(
        "SELECT request_id, customer_id, requested_by, requested_at, completed_at, confirmations "
        "FROM erasure_requests WHERE merchant_id = $1 AND request_id = $2",
        merchant_id,
        request_id,
    )
    return dict(row) if row is not None else None


async def mark_complete(
    pool: asyncpg.Pool,
    merchant_id: str,
    request_id: uuid.UUID,
    confirmations: dict[str, Any],
    completed_at: datetime,
) -> None:
    """Keep the confirmations: a complete erasure stays complete, and its status needs no service any more."""
    await pool.execute(
        "UPDATE erasure_requests SET completed_at = $3, confirmations = $4 "
        "WHERE merchant_id = $1 AND request_id = $2 AND completed_at IS NULL",
        merchant_id,
        request_id,
        completed_at,
        confirmations,
    )
