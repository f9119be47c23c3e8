"""Forward-only, versioned schema migrations, safe when several workers start at once.

Each service keeps `NNNN_description.sql` files in its `adapters/migrations/` folder. The kernel's own
tables (inbox, outbox, schedule) come first, from `services/common/migrations/`. A transaction-scoped
advisory lock serialises concurrent starters; a checksum catches a migration edited after it ran.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

KERNEL_MIGRATIONS = Path(__file__).parent / "migrations"


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(folder: Path, prefix: str = "") -> list[Migration]:
    migrations = []
    for path in sorted(folder.glob("*.sql")):
        number, _, name = path.stem.partition("_")
        if not number.isdigit():
            raise MigrationError(f"migration file {path.name} must start with a number")
        migrations.append(Migration(f"{prefix}{number}", name, path.read_text()))
    return migrations


def migrations_for(service_folder: Path | None) -> list[Migration]:
    found = discover(KERNEL_MIGRATIONS, prefix="kernel-")
    if service_folder is not None:
        found += discover(service_folder)
    return found


async def apply_migrations(pool: asyncpg.Pool, schema: str, migrations: list[Migration]) -> list[str]:
    """Apply what is missing, in order, all under one lock; returns the versions applied now."""
    applied_now: list[str] = []
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"migrations:{schema}")
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["version"]: r["checksum"] for r in await conn.fetch("SELECT * FROM schema_migrations")}
        for migration in migrations:
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"{schema} migration {migration.version}_{migration.name} changed after it was "
                        "applied; migrations are forward-only: add a new one instead"
                    )
                continue
            log.info("applying migration", extra={"schema": schema, "version": migration.version})
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                migration.checksum,
            )
            applied_now.append(migration.version)
    return applied_now
