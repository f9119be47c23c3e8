"""Programme versions, the rewards catalogue, redemptions with idempotency keys, and ledger reads."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

import asyncpg

from services.common.contract import Contract
from services.common.outbox import write_outbox
from services.loyalty.adapters.codes import new_code
from services.loyalty.adapters.store import current_programmes, load_book, save_book
from services.loyalty.domain.programme import DEFAULT_PROGRAMME, Programme, ProgrammeConfig
from services.loyalty.domain.rewards import Redemption, RedemptionRefused, Reward, pay_with_points, redeem_reward


async def programme_of(pool: asyncpg.Pool, merchant_id: str) -> Programme:
    return (await current_programmes(pool, [merchant_id])).get(merchant_id, DEFAULT_PROGRAMME)


async def save_programme(pool: asyncpg.Pool, merchant_id: str, config: ProgrammeConfig) -> Programme:
    """A new version per save; entries keep the version that produced them."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"programme:{merchant_id}")
        version = await conn.fetchval(
            "SELECT coalesce(max(version), 0) + 1 FROM programmes WHERE merchant_id = $1", merchant_id
        )
        await conn.execute(
            "INSERT INTO programmes (merchant_id, version, config) VALUES ($1, $2, $3)",
            merchant_id,
            version,
            json.loads(config.model_dump_json()),
        )
    return Programme(version=version, config=config)


async def list_rewards(pool: asyncpg.Pool, merchant_id: str, *, include_inactive: bool = False) -> list[dict]:
    rows = await pool.fetch(
        "SELECT reward_id, config, active FROM rewards WHERE merchant_id = $1 AND (active OR $2) ORDER BY reward_id",
        merchant_id,
        include_inactive,
    )
    return [{"reward_id": r["reward_id"], "active": r["active"], **r["config"]} for r in rows]


async def save_reward(pool: asyncpg.Pool, merchant_id: str, reward_id: str, reward: Reward) -> None:
    await pool.execute(
        "INSERT INTO rewards (merchant_id, reward_id, config) VALUES ($1, $2, $3) ON CONFLICT (merchant_id, reward_id) "
        "DO UPDATE SET config = EXCLUDED.config, active = true, updated_at = now()",
        merchant_id,
        reward_id,
        json.loads(reward.model_dump_json()),
    )


async def deactivate_reward(pool: asyncpg.Pool, merchant_id: str, reward_id: str) -> bool:
    result = await pool.execute(
        "UPDATE rewards SET active = false, updated_at = now() WHERE merchant_id = $1 AND reward_id = $2",
        merchant_id,
        reward_id,
    )
    return result.endswith(" 1")


class IdempotencyConflict(Exception):
    pass


def request_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


async def redeem(
    pool: asyncpg.Pool,
    contract: Contract,
    merchant_id: str,
    customer_id: str,
    body: dict[str, Any],
    now: datetime,
) -> tuple[dict[str, Any], bool]:
    """Spend points once per client key: returns (response, created). Concurrent calls serialise on the account.

    Locking the account row first makes two redemptions of one customer queue, so the second sees the
    first's balance (never spending the same points) or, with the same key, its stored response.
    """
    client_key, digest = body["client_key"], request_hash(body)
    async with pool.acquire() as conn, conn.transaction():
        book = await load_book(conn, [(merchant_id, customer_id)], create=False)
        account = book.accounts.get((merchant_id, customer_id))
        if account is None:
            raise RedemptionRefused("customer_id", f"unknown customer {customer_id}", status=404)
        previous = await conn.fetchrow(
            "SELECT request_hash, response FROM codes WHERE merchant_id = $1 AND client_key = $2",
            merchant_id,
            client_key,
        )
        if previous is not None:
            if previous["request_hash"] != digest:
                raise IdempotencyConflict(client_key)
            return previous["response"], False
        programme = (await current_programmes(conn, [merchant_id])).get(merchant_id, DEFAULT_PROGRAMME)
        redemption_id = uuid.uuid4()
        book.dirty_accounts.add((merchant_id, customer_id))
        if "reward_id" in body:
            row = await conn.fetchrow(
                "SELECT config FROM rewards WHERE merchant_id = $1 AND reward_id = $2 AND active",
                merchant_id,
                body["reward_id"],
            )
            if row is None:
                raise RedemptionRefused("reward_id", f"no active reward {body['reward_id']} in the catalogue")
            result = redeem_reward(
                book,
                programme,
                merchant_id,
                account,
                body["reward_id"],
                Reward.model_validate(row["config"]),
                redemption_id=redemption_id,
                code=new_code(),
                now=now,
            )
        else:
            result = pay_with_points(
                book,
                programme,
                merchant_id,
                account,
                body["points"],
                body["order_total_minor"],
                redemption_id=redemption_id,
                code=new_code(),
                now=now,
            )
        await save_book(conn, book)
        await write_outbox(conn, contract, book.emitted)
        response = redemption_response(result, account.available)
        await conn.execute(
            "UPDATE codes SET client_key = $2, request_hash = $3, response = $4 WHERE redemption_id = $1",
            redemption_id,
            client_key,
            digest,
            response,
        )
    return response, True


def redemption_response(result: Redemption, balance: int) -> dict[str, Any]:
    return {
        "redemption_id": str(result.redemption_id),
        "code": result.code,
        "points": result.points,
        "balance": balance,
        "expires_at": result.expires_at.isoformat(),
        **{k: v for k, v in result.details.items() if v is not None},
    }


async def account_row(pool: asyncpg.Pool, merchant_id: str, customer_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT * FROM accounts WHERE merchant_id = $1 AND customer_id = $2", merchant_id, customer_id
    )


async def history_page(
    pool: asyncpg.Pool, merchant_id: str, customer_id: str, *, before_id: int | None, limit: int
) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT id, entry_id, kind, bucket, points, shortfall, reason_code, order_id, shipment_id, rule_version, "
        "reverses_entry_id, source_type, occurred_at FROM ledger_entries "
        "WHERE merchant_id = $1 AND customer_id = $2 AND ($3::bigint IS NULL OR id < $3) "
        "AND kind <> 'pending_release' ORDER BY id DESC LIMIT $4",
        merchant_id,
        customer_id,
        before_id,
        limit,
    )


async def codes_of(pool: asyncpg.Pool, merchant_id: str, customer_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT code, kind, details, expires_at, used_at, created_at FROM codes "
        "WHERE merchant_id = $1 AND customer_id = $2 ORDER BY created_at DESC LIMIT 50",
        merchant_id,
        customer_id,
    )
    return [dict(r) for r in rows]


async def code_status(pool: asyncpg.Pool, merchant_id: str, code: str, now: datetime) -> dict[str, Any] | None:
    """For the shop's checkout: is this code ours, unused and unexpired, and what does it give?"""
    row = await pool.fetchrow(
        "SELECT code, customer_id, kind, details, expires_at, used_at, created_at FROM codes "
        "WHERE merchant_id = $1 AND code = $2",
        merchant_id,
        code.upper(),
    )
    if row is None:
        return None
    status = "used" if row["used_at"] else ("expired" if row["expires_at"] <= now else "valid")
    return {**dict(row), "status": status, "valid": status == "valid"}
