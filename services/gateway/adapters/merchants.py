"""Merchants and their API keys in the gateway's own schema."""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.gateway.core.security import (
    KeyStatus,
    issue_key,
    key_environment,
    key_prefix,
    key_status,
    rotation_expiry,
)

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
    "privacy:read",
    "privacy:write",
    "keys:manage",
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


# --- Key management: listing, issuing with chosen scopes and expiry, revocation, rotation with an overlap window ---

log = logging.getLogger(__name__)


class NotFound(LookupError):
    """No such merchant or key."""


class KeyConflict(Exception):
    """The key's state forbids the change (revoked, expired, rotated already, the merchant's last active key)."""


@dataclass(frozen=True)
class MerchantInfo:
    merchant_id: str
    name: str
    created_at: datetime
    active_keys: int


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown about a key: never its hash, and the token only once, at issue (`NewKey`)."""

    key_id: uuid.UUID
    merchant_id: str
    prefix: str
    scopes: tuple[str, ...]
    label: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    rotated_from: uuid.UUID | None
    replaced_by: uuid.UUID | None

    @property
    def environment(self) -> str:
        return key_environment(self.prefix)

    def status(self, now: datetime) -> KeyStatus:
        return key_status(self.revoked_at, self.expires_at, now)


@dataclass(frozen=True)
class NewKey:
    token: str
    info: KeyInfo


_KEY_SELECT = (
    "SELECT k.key_id, k.merchant_id, k.prefix, k.scopes, k.label, k.created_at, k.expires_at, k.revoked_at, "
    "k.last_used_at, k.rotated_from, r.key_id AS replaced_by "
    "FROM api_keys k LEFT JOIN api_keys r ON r.rotated_from = k.key_id"
)


def _key_info(row: asyncpg.Record) -> KeyInfo:
    return KeyInfo(**{**dict(row), "scopes": tuple(row["scopes"])})


def unknown_scopes(scopes: tuple[str, ...] | list[str]) -> list[str]:
    """The scopes no route knows (a typo would otherwise silently grant nothing)."""
    return [scope for scope in scopes if scope not in DEFAULT_SCOPES]


async def list_merchants(
    pool: asyncpg.Pool, now: datetime, *, after: str | None = None, limit: int = 100
) -> list[MerchantInfo]:
    """Merchants by id, `limit` after `after`, each with its number of active keys."""
    rows = await pool.fetch(
        "SELECT m.merchant_id, m.name, m.created_at, count(k.key_id) AS active_keys FROM merchants m "
        "LEFT JOIN api_keys k ON k.merchant_id = m.merchant_id AND k.revoked_at IS NULL "
        "AND (k.expires_at IS NULL OR k.expires_at > $1) "
        "WHERE $2::text IS NULL OR m.merchant_id > $2 GROUP BY m.merchant_id ORDER BY m.merchant_id LIMIT $3",
        now,
        after,
        limit,
    )
    return [MerchantInfo(**dict(row)) for row in rows]


async def merchant_exists(pool: asyncpg.Pool, merchant_id: str) -> bool:
    return await pool.fetchval("SELECT EXISTS (SELECT 1 FROM merchants WHERE merchant_id = $1)", merchant_id)


async def list_keys(pool: asyncpg.Pool, merchant_id: str) -> list[KeyInfo]:
    """All keys of the merchant, revoked and expired ones too, newest first."""
    rows = await pool.fetch(f"{_KEY_SELECT} WHERE k.merchant_id = $1 ORDER BY k.created_at DESC, k.key_id", merchant_id)
    return [_key_info(row) for row in rows]


async def get_key(pool: asyncpg.Pool | asyncpg.Connection, key_id: uuid.UUID) -> KeyInfo | None:
    row = await pool.fetchrow(f"{_KEY_SELECT} WHERE k.key_id = $1", key_id)
    return None if row is None else _key_info(row)


async def issue_api_key(
    pool: asyncpg.Pool | asyncpg.Connection,
    merchant_id: str,
    *,
    scopes: tuple[str, ...],
    environment: str = "test",
    label: str | None = None,
    expires_at: datetime | None = None,
    rotated_from: uuid.UUID | None = None,
) -> NewKey:
    """Issue a key: the token is returned here and nowhere else; only its hash and prefix are stored."""
    for attempt in range(3):
        issued = issue_key(environment)
        key_id = uuid.uuid4()
        row = (key_id, merchant_id, issued.prefix, issued.hash, list(dict.fromkeys(scopes)), label, expires_at)
        try:
            # Inside the caller's transaction (a rotation) as a savepoint, so a prefix clash can be retried.
            async with contextlib.nullcontext() if isinstance(pool, asyncpg.Pool) else pool.transaction():
                await pool.execute(
                    "INSERT INTO api_keys (key_id, merchant_id, prefix, key_hash, scopes, label, expires_at, "
                    "rotated_from) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    *row,
                    rotated_from,
                )
        except asyncpg.ForeignKeyViolationError as exc:
            raise NotFound(f"No merchant {merchant_id}") from exc
        except asyncpg.UniqueViolationError as exc:
            # Two keys sharing the 8 random characters of a prefix: ~1 in 10^14; a fresh key, unless it is the
            # one-replacement-per-key rule (rotated_from) that was hit.
            if exc.constraint_name != "api_keys_prefix_key" or attempt == 2:
                raise
            continue
        info = await get_key(pool, key_id)
        assert info is not None
        log.info(
            "api key issued",
            extra={"merchant_id": merchant_id, "key_id": str(key_id), "key_prefix": info.prefix, "scopes": scopes},
        )
        return NewKey(issued.token, info)
    raise AssertionError("unreachable")  # pragma: no cover


async def _lock_key(conn: asyncpg.Connection, key_id: uuid.UUID, merchant_id: str | None) -> KeyInfo:
    """The key, with its merchant's row locked: key changes of one merchant happen one at a time."""
    owner = await conn.fetchval("SELECT merchant_id FROM api_keys WHERE key_id = $1", key_id)
    if owner is None or (merchant_id is not None and owner != merchant_id):
        raise NotFound("No such key")
    await conn.execute("SELECT 1 FROM merchants WHERE merchant_id = $1 FOR UPDATE", owner)
    info = await get_key(conn, key_id)
    assert info is not None
    return info


async def revoke_key(
    pool: asyncpg.Pool,
    key_id: uuid.UUID,
    now: datetime,
    *,
    merchant_id: str | None = None,
    keep_one_active: bool = False,
) -> KeyInfo:
    """Revoke at once (again: unchanged). `merchant_id`: only that merchant's key, else `NotFound`.
    `keep_one_active`: refuse (`KeyConflict`) to revoke the merchant's last active key."""
    async with pool.acquire() as conn, conn.transaction():
        info = await _lock_key(conn, key_id, merchant_id)
        if info.revoked_at is not None:
            return info
        if keep_one_active and info.status(now) == "active":
            others = await conn.fetchval(
                "SELECT count(*) FROM api_keys WHERE merchant_id = $1 AND key_id <> $2 AND revoked_at IS NULL "
                "AND (expires_at IS NULL OR expires_at > $3)",
                info.merchant_id,
                key_id,
                now,
            )
            if others == 0:
                raise KeyConflict(
                    "This is the merchant's last active key; rotate it instead, or revoke it once another key exists"
                )
        await conn.execute("UPDATE api_keys SET revoked_at = $2 WHERE key_id = $1", key_id, now)
        revoked = await get_key(conn, key_id)
    assert revoked is not None
    log.info(
        "api key revoked", extra={"merchant_id": info.merchant_id, "key_id": str(key_id), "key_prefix": info.prefix}
    )
    return revoked


async def rotate_key(
    pool: asyncpg.Pool,
    key_id: uuid.UUID,
    now: datetime,
    overlap: timedelta,
    *,
    merchant_id: str | None = None,
) -> tuple[NewKey, KeyInfo]:
    """A replacement with the same scopes, label, environment and expiry; the old key keeps working for `overlap`
    (never past its own expiry). Returns the new key and the old one as it is now. A key is rotated once:
    to rotate again, rotate its replacement."""
    async with pool.acquire() as conn, conn.transaction():
        old = await _lock_key(conn, key_id, merchant_id)
        status = old.status(now)
        if status != "active":
            raise KeyConflict(f"This key is {status}; only an active key can be rotated")
        if old.replaced_by is not None:
            raise KeyConflict(f"This key was rotated already; its replacement is {old.replaced_by}")
        old_until = rotation_expiry(now, old.expires_at, overlap)
        new = await issue_api_key(
            conn,
            old.merchant_id,
            scopes=old.scopes,
            environment=old.environment,
            label=old.label,
            expires_at=old.expires_at,
            rotated_from=old.key_id,
        )
        await conn.execute("UPDATE api_keys SET expires_at = $2 WHERE key_id = $1", key_id, old_until)
        rotated = await get_key(conn, key_id)
    assert rotated is not None
    log.info(
        "api key rotated",
        extra={
            "merchant_id": old.merchant_id,
            "key_id": str(key_id),
            "key_prefix": old.prefix,
            "replacement_key_id": str(new.info.key_id),
            "expires_at": rotated.expires_at,
        },
    )
    return new, rotated
