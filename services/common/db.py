"""PostgreSQL access: one asyncpg pool per process, scoped to the service's own schema."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import orjson

SCHEMA_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


def _dump_json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def _dump_jsonb(value: Any) -> bytes:
    return _JSONB_VERSION + orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def _load_jsonb(data: bytes) -> Any:
    return orjson.loads(memoryview(data)[1:])


_JSONB_VERSION = b"\x01"  # jsonb's binary wire format: a version byte, then the JSON text


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb columns round-trip as Python objects instead of strings; orjson because every batch moves
    # thousands of them (about 3x faster than the standard library in the loyalty profile). Binary format: orjson's
    # bytes go out as they are, where the text format decoded them to str for asyncpg to encode again.
    await conn.set_type_codec("jsonb", encoder=_dump_jsonb, decoder=_load_jsonb, schema="pg_catalog", format="binary")
    await conn.set_type_codec("json", encoder=_dump_json, decoder=orjson.loads, schema="pg_catalog", format="binary")


async def create_pool(database_url: str, schema: str, *, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections see the service's schema first, so SQL stays unqualified.

    Each service owns one schema and never reads another's (DESIGN §3).
    """
    if not SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    except asyncpg.UniqueViolationError:
        pass  # two workers raced to create it; it exists now
    finally:
        await admin.close()
    pool = await asyncpg.create_pool(
        database_url,
        min_size=1,
        max_size=max_size,
        init=_init_connection,
        server_settings={"search_path": f'"{schema}"', "application_name": f"retention-{schema}"},
    )
    assert pool is not None
    return pool
