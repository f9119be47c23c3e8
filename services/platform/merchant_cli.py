"""`retention merchant list|keys|key-issue|key-revoke|key-rotate`: the operator's key management, on the database.

A new key goes to stdout alone (to pipe it into a secret store); everything else about it goes to stderr. Like the
admin API, the operator may revoke a merchant's last key.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, TypeVar

import asyncpg
import typer

from services.gateway.core.security import DEFAULT_OVERLAP, MAX_OVERLAP

T = TypeVar("T")
KeyIdArg = Annotated[uuid.UUID, typer.Argument(help="The key's id (from `retention merchant keys`)")]


def _run(operation: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    from services.common.db import create_pool
    from services.common.settings import Settings
    from services.gateway.adapters.merchants import KeyConflict, NotFound

    async def run() -> T:
        pool = await create_pool(Settings().database_url, "gateway")
        try:
            return await operation(pool)
        finally:
            await pool.close()

    try:
        return asyncio.run(run())
    except (NotFound, KeyConflict) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else "-"


def list_merchants() -> None:
    """Merchants with their number of active keys."""
    from services.gateway.adapters.merchants import list_merchants as fetch

    async def run(pool: asyncpg.Pool) -> None:
        after = None
        while page := await fetch(pool, datetime.now(UTC), after=after, limit=500):
            for m in page:
                typer.echo(f"{m.merchant_id:<40} {m.active_keys:>3} active keys  {_when(m.created_at)}  {m.name}")
            after = page[-1].merchant_id

    _run(run)


def list_keys(merchant_id: Annotated[str, typer.Argument(help="The merchant's id")]) -> None:
    """The merchant's keys, newest first: id, prefix, status, expiry, last use, label, scopes (never the key)."""
    from services.gateway.adapters.merchants import list_keys as fetch
    from services.gateway.adapters.merchants import merchant_exists

    async def run(pool: asyncpg.Pool) -> None:
        if not await merchant_exists(pool, merchant_id):
            typer.echo(f"error: no merchant {merchant_id}", err=True)
            raise typer.Exit(1)
        now = datetime.now(UTC)
        typer.echo(f"{'key_id':<36}  {'prefix':<16}  {'status':<7}  {'expires':<16}  {'last used':<16}  label / scopes")
        for k in await fetch(pool, merchant_id):
            typer.echo(
                f"{k.key_id}  {k.prefix:<16}  {k.status(now):<7}  {_when(k.expires_at):<16}  "
                f"{_when(k.last_used_at):<16}  {k.label or '-'} / {','.join(k.scopes)}"
            )

    _run(run)


def issue(
    merchant_id: Annotated[str, typer.Argument(help="The merchant's id")],
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="A scope; repeat for several (default: all)")
    ] = None,
    environment: Annotated[str, typer.Option(help="live or test key")] = "live",
    label: Annotated[str | None, typer.Option(help="For humans, e.g. where the key is used")] = None,
    expires_in_days: Annotated[int | None, typer.Option(min=1, help="Refused after this many days")] = None,
) -> None:
    """Issue a key and print it (shown once; only its hash is stored)."""
    from services.gateway.adapters.merchants import DEFAULT_SCOPES, issue_api_key, unknown_scopes

    scopes = tuple(scope or DEFAULT_SCOPES)
    if unknown := unknown_scopes(scopes):
        raise typer.BadParameter(
            f"unknown scope {unknown[0]}; known: {', '.join(DEFAULT_SCOPES)}", param_hint="--scope"
        )
    if environment not in ("live", "test"):
        raise typer.BadParameter("live or test", param_hint="--environment")
    expires_at = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None

    async def run(pool: asyncpg.Pool) -> str:
        new = await issue_api_key(
            pool, merchant_id, scopes=scopes, environment=environment, label=label, expires_at=expires_at
        )
        typer.echo(f"key {new.info.key_id} ({new.info.prefix}…) expires {_when(expires_at)}", err=True)
        return new.token

    typer.echo(_run(run))


def revoke(key_id: KeyIdArg) -> None:
    """Revoke a key at once (a merchant's last key too)."""
    from services.gateway.adapters.merchants import revoke_key

    info = _run(lambda pool: revoke_key(pool, key_id, datetime.now(UTC)))
    typer.echo(f"revoked {info.prefix}… ({info.key_id}) of {info.merchant_id} at {_when(info.revoked_at)}")


def rotate(
    key_id: KeyIdArg,
    overlap_hours: Annotated[
        int,
        typer.Option(
            min=0,
            max=int(MAX_OVERLAP.total_seconds() // 3600),
            help="How long the old key keeps working next to the new one",
        ),
    ] = int(DEFAULT_OVERLAP.total_seconds() // 3600),
) -> None:
    """Issue a replacement with the same scopes, label and expiry, print it (shown once); the old key keeps working
    for the overlap."""
    from services.gateway.adapters.merchants import rotate_key

    new, old = _run(lambda pool: rotate_key(pool, key_id, datetime.now(UTC), timedelta(hours=overlap_hours)))
    typer.echo(f"key {new.info.key_id} ({new.info.prefix}…) replaces {old.prefix}…", err=True)
    typer.echo(f"{old.prefix}… ({old.key_id}) keeps working until {_when(old.expires_at)}", err=True)
    typer.echo(new.token)


def register(merchant_app: typer.Typer) -> None:
    """Add the commands to `retention merchant` (next to `create`)."""
    merchant_app.command("list")(list_merchants)
    merchant_app.command("keys")(list_keys)
    merchant_app.command("key-issue")(issue)
    merchant_app.command("key-revoke")(revoke)
    merchant_app.command("key-rotate")(rotate)
