"""Migrations are forward-only, applied once even when workers start together."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from services.common.db import create_pool
from services.common.migrations import Migration, MigrationError, apply_migrations, migrations_for
from services.loyalty.bootstrap import SPEC as LOYALTY


async def test_concurrent_starters_apply_each_migration_once(schema_pool, infra) -> None:
    schema, pool = schema_pool
    other = await create_pool(infra.database_url, schema)
    try:
        wanted = migrations_for(LOYALTY.migrations)
        results = await asyncio.gather(*(apply_migrations(p, schema, wanted) for p in (pool, other, pool)))
        assert sorted(len(r) for r in results) == [0, 0, len(wanted)]
        assert await pool.fetchval("SELECT count(*) FROM schema_migrations") == len(wanted)
    finally:
        await other.close()


async def test_an_edited_migration_is_refused(schema_pool) -> None:
    schema, pool = schema_pool
    await apply_migrations(pool, schema, [Migration("0001", "t", "CREATE TABLE t (id int)")])
    with pytest.raises(MigrationError, match="forward-only"):
        await apply_migrations(pool, schema, [Migration("0001", "t", "CREATE TABLE t (id bigint)")])


async def test_the_ledger_is_append_only(schema_pool) -> None:
    schema, pool = schema_pool
    await apply_migrations(pool, schema, migrations_for(LOYALTY.migrations))
    await pool.execute(
        "INSERT INTO ledger_entries (entry_id, merchant_id, customer_id, kind, points, reason_code, source_event_id, "
        "source_type, rule_version, occurred_at) VALUES (gen_random_uuid(), 'm', 'c', 'earn', 5, 'purchase', "
        "gen_random_uuid(), 'order.placed', 1, now())"
    )
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await pool.execute("UPDATE ledger_entries SET points = 500")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await pool.execute("DELETE FROM ledger_entries")
