"""Merchants and their API keys in the gateway's own schema."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.gateway.core.security import issue_key, key_prefix

DEFAULT_SCOPES = (
    "events:write",
    "customers:read",
    "loyalty:read",
    "loyalty:write",
    "config:write",
    "tracking:read",
    "segments:read",
    "segments:write",
    "audiences:read",
)


@dataclass(frozen=True)
class KeyRecord:
    key_id: uuid.UUID
    merchant_id: str
    key_hash: str
    scopes: tuple[str, ...]
    expires_at: datetime | None
    revoked_at: datetime | None


async def create_merchant(pool: asyncpg.Pool, merchant_id: str, name: str) -> bool:
    """Create the merchant if missing; returns whether it was created now."""
    status = await pool.execute(
        "INSERT INTO merchants (merchant_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING", merchant_id, name
    )
    return status.endswith(" 1")


async def create_key(
    pool: asyncpg.Pool,
    merchant_id: str,
    *,
    environment: str = "test",
    scopes: tuple[str, ...] = DEFAULT_SCOPES,
    label: str | None = None,
) -> str:
    """Issue a key and return its token: the only time it is ever visible."""
    issued = issue_key(environment)
    await pool.execute(
        "INSERT INTO api_keys (key_id, merchant_id, prefix, key_hash, scopes, label) VALUES ($1, $2, $3, $4, $5, $6)",
        uuid.uuid4(),
        merchant_id,
        issued.prefix,
        issued.hash,
        list(scopes),
        label,
    )
    return issued.token


async def find_key(pool: asyncpg.Pool, token: str) -> KeyRecord | None:
    row = await pool.fetchrow(
        "SELECT key_id, merchant_id, key_hash, scopes, expires_at, revoked_at FROM api_keys WHERE prefix = $1",
        key_prefix(token),
    )
    if row is None:
        return None
    return KeyRecord(
        row["key_id"], row["merchant_id"], row["key_hash"], tuple(row["scopes"]), row["expires_at"], row["revoked_at"]
    )


async def touch_key(pool: asyncpg.Pool, key_id: uuid.UUID, now: datetime) -> None:
    # At most once a minute per key, so a busy key does not turn every request into a write.
    await pool.execute(
        "UPDATE api_keys SET last_used_at = $2 WHERE key_id = $1 "
        "AND (last_used_at IS NULL OR last_used_at < $2::timestamptz - interval '1 minute')",
        key_id,
        now,
    )
