"""Segment definitions over HTTP: create, read, change (a new version), delete, list members.

Every save validates the condition tree and answers 422 with the path of each bad node (`definition.of[1].
within_days`); a saved change schedules the re-evaluation of every customer against that segment, whose
entries and exits arrive as `segment.entered` / `segment.exited`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Header, Path, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.common.envelope import ID_PATTERN
from services.common.http import problem
from services.common.schedule import Job, schedule_jobs
from services.common.service_app import Runtime
from services.segments.domain.conditions import parse, time_dependent
from services.segments.domain.membership import SegmentActions

SEGMENT_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"
SegmentId = Annotated[str, Path(pattern=SEGMENT_ID)]
CustomerId = Annotated[str, Path(pattern=ID_PATTERN)]


class SegmentChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=1000)] = ""
    #: The condition tree (validated separately, so its errors carry node paths).
    definition: Any
    actions: SegmentActions = SegmentActions()


class SegmentCreate(SegmentChange):
    segment_id: Annotated[str, Field(pattern=SEGMENT_ID)]


def router(runtime: Runtime, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> APIRouter:
    api = APIRouter(prefix="/internal/v1/merchants/{merchant_id}", tags=["segments"])

    @api.get("/segments")
    async def list_segments(merchant_id: str) -> dict[str, Any]:
        """Every live segment with its current version and member count."""
        async with runtime.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT * FROM segments WHERE merchant_id = $1 AND deleted_at IS NULL ORDER BY segment_id", merchant_id
            )
            counts = await member_counts(conn, merchant_id)
        return {"items": [_public(r, counts.get(r["segment_id"], 0)) for r in rows]}

    @api.post("/segments", status_code=201)
    async def create_segment(merchant_id: str, body: SegmentCreate, response: Response) -> Any:
        """A new segment (version 1); members are evaluated in the background."""
        if (bad := _invalid(body.definition)) is not None:
            return bad
        async with runtime.pool.acquire() as conn, conn.transaction():
            existing = await conn.fetchrow(
                "SELECT deleted_at, version FROM segments WHERE merchant_id = $1 AND segment_id = $2 FOR UPDATE",
                merchant_id,
                body.segment_id,
            )
            if existing is not None and existing["deleted_at"] is None:
                return problem(409, "Segment exists", f"segment {body.segment_id} exists; change it with PUT",
                               errors=[{"path": "segment_id", "message": "already exists"}])  # fmt: skip
            version = existing["version"] + 1 if existing is not None else 1  # a re-created id continues its history
            row = await _save(conn, merchant_id, body.segment_id, version, body, clock())
        response.headers["ETag"] = _etag(version)
        return _public(row, 0)

    @api.get("/segments/{segment_id}")
    async def get_segment(merchant_id: str, segment_id: SegmentId, response: Response) -> Any:
        async with runtime.pool.acquire() as conn:
            row = await _live(conn, merchant_id, segment_id)
            if row is None:
                return _unknown(segment_id)
            count = (await member_counts(conn, merchant_id, segment_id)).get(segment_id, 0)
        response.headers["ETag"] = _etag(row["version"])
        return _public(row, count)

    @api.put("/segments/{segment_id}")
    async def change_segment(
        merchant_id: str,
        segment_id: SegmentId,
        body: SegmentChange,
        response: Response,
        if_match: Annotated[str | None, Header()] = None,
    ) -> Any:
        """A new version of the definition; `If-Match` with the ETag refuses to overwrite someone else's change."""
        if (bad := _invalid(body.definition)) is not None:
            return bad
        async with runtime.pool.acquire() as conn, conn.transaction():
            current = await _live(conn, merchant_id, segment_id, lock=True)
            if current is None:
                return _unknown(segment_id)
            if if_match is not None and if_match.strip() != _etag(current["version"]):
                stale = [{"path": "If-Match", "message": "does not match the current version"}]
                return problem(412, "Segment changed meanwhile", f"it is at {_etag(current['version'])}", errors=stale)
            row = await _save(conn, merchant_id, segment_id, current["version"] + 1, body, clock())
        response.headers["ETag"] = _etag(row["version"])
        return _public(row, None)

    @api.delete("/segments/{segment_id}", status_code=204)
    async def delete_segment(merchant_id: str, segment_id: SegmentId) -> Response:
        """Members leave (`segment.exited`, cause `segment_deleted`) in the background; the history stays."""
        now = clock()
        async with runtime.pool.acquire() as conn, conn.transaction():
            current = await _live(conn, merchant_id, segment_id, lock=True)
            if current is None:
                return _unknown(segment_id)  # type: ignore[return-value]
            await conn.execute(
                "UPDATE segments SET deleted_at = $3, updated_at = $3 WHERE merchant_id = $1 AND segment_id = $2",
                merchant_id,
                segment_id,
                now,
            )
            gone = {segment_id: [current["name"], current["version"]]}
            await _evaluate_later(conn, merchant_id, segment_id, current["version"], now, gone=gone)
        return Response(status_code=204)

    @api.get("/segments/{segment_id}/versions")
    async def segment_versions(merchant_id: str, segment_id: SegmentId) -> Any:
        rows = await runtime.pool.fetch(
            "SELECT version, name, definition, actions, saved_at FROM segment_versions "
            "WHERE merchant_id = $1 AND segment_id = $2 ORDER BY version DESC",
            merchant_id,
            segment_id,
        )
        if not rows:
            return _unknown(segment_id)
        return {"items": [dict(r) for r in rows]}

    @api.get("/segments/{segment_id}/members")
    async def segment_members(
        merchant_id: str,
        segment_id: SegmentId,
        after: Annotated[str, Query(max_length=128)] = "",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> Any:
        """Members in customer-id order; pass `next_cursor` as `after` for the next page."""
        async with runtime.pool.acquire() as conn:
            if await _live(conn, merchant_id, segment_id) is None:
                return _unknown(segment_id)
            rows = await conn.fetch(
                "SELECT customer_id, memberships ->> $2 AS entered_at FROM profiles "
                "WHERE merchant_id = $1 AND memberships ? $2 AND customer_id > $3 ORDER BY customer_id LIMIT $4",
                merchant_id,
                segment_id,
                after,
                limit + 1,
            )
        items = [dict(r) for r in rows[:limit]]
        return {"items": items, "next_cursor": items[-1]["customer_id"] if len(rows) > limit else None}

    @api.post("/segments/validate")
    async def validate_definition(merchant_id: str, body: dict[str, Any]) -> Any:
        """Check a definition without saving it: 200 with whether it is time-dependent, or 422 with node paths."""
        if (bad := _invalid(body.get("definition"))) is not None:
            return bad
        tree, _ = parse(body.get("definition"))
        return {"valid": True, "time_dependent": time_dependent(tree)}  # type: ignore[arg-type]

    return api


async def member_counts(conn: asyncpg.Connection, merchant_id: str, segment_id: str | None = None) -> dict[str, int]:
    if segment_id is not None:
        n = await conn.fetchval(
            "SELECT count(*) FROM profiles WHERE merchant_id = $1 AND memberships ? $2", merchant_id, segment_id
        )
        return {segment_id: n}
    rows = await conn.fetch(
        "SELECT k AS segment_id, count(*) AS n FROM profiles, jsonb_object_keys(memberships) AS k "
        "WHERE merchant_id = $1 GROUP BY k",
        merchant_id,
    )
    return {r["segment_id"]: r["n"] for r in rows}


async def _save(
    conn: asyncpg.Connection, merchant_id: str, segment_id: str, version: int, body: SegmentChange, now: datetime
) -> asyncpg.Record:
    actions = body.actions.model_dump(exclude_defaults=True)
    row = await conn.fetchrow(
        "INSERT INTO segments (merchant_id, segment_id, version, name, description, definition, actions, created_at, "
        "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (merchant_id, segment_id) DO UPDATE SET "
        "version = $3, name = $4, description = $5, definition = $6, actions = $7, updated_at = $8, deleted_at = NULL "
        "RETURNING *",
        merchant_id, segment_id, version, body.name, body.description, body.definition, actions, now,
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO segment_versions (merchant_id, segment_id, version, name, definition, actions, saved_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        merchant_id, segment_id, version, body.name, body.definition, actions, now,
    )  # fmt: skip
    await _evaluate_later(conn, merchant_id, segment_id, version, now)
    return row


async def _evaluate_later(
    conn: asyncpg.Connection,
    merchant_id: str,
    segment_id: str,
    version: int,
    now: datetime,
    gone: dict[str, list[Any]] | None = None,
) -> None:
    payload = {"segment_ids": [segment_id], "gone": gone or {}}
    job = Job(f"evaluate:{merchant_id}:{segment_id}:v{version}", "evaluate_segments", merchant_id, now, payload)
    await schedule_jobs(conn, [job], replace=True)


async def _live(
    conn: asyncpg.Connection, merchant_id: str, segment_id: str, *, lock: bool = False
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM segments WHERE merchant_id = $1 AND segment_id = $2 AND deleted_at IS NULL"
        + (" FOR UPDATE" if lock else ""),
        merchant_id,
        segment_id,
    )


def _invalid(definition: Any) -> JSONResponse | None:
    _, problems = parse(definition)
    if not problems:
        return None
    errors = [{"path": f"definition.{p.path}".rstrip("."), "message": p.message} for p in problems]
    return problem(422, "Invalid segment definition", "; ".join(f"{e['path']}: {e['message']}" for e in errors),
                   errors=errors)  # fmt: skip


def _public(row: asyncpg.Record, members: int | None) -> dict[str, Any]:
    tree, _ = parse(row["definition"])
    out = {
        "segment_id": row["segment_id"],
        "version": row["version"],
        "name": row["name"],
        "description": row["description"],
        "definition": row["definition"],
        "actions": row["actions"],
        "time_dependent": time_dependent(tree) if tree is not None else False,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }
    if members is not None:
        out["members"] = members
    return out


def _etag(version: int) -> str:
    return f'"v{version}"'


def _unknown(segment_id: str) -> JSONResponse:
    return problem(404, "Unknown segment", f"no segment {segment_id}",
                   errors=[{"path": "segment_id", "message": "unknown"}])  # fmt: skip
