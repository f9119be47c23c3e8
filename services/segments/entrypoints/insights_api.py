"""KPIs, predictions and retargeting audiences over HTTP (the gateway forwards them with the key's merchant)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from services.common.envelope import ID_PATTERN
from services.common.http import problem
from services.common.schedule import schedule_jobs
from services.common.service_app import Runtime
from services.segments.adapters import insights
from services.segments.domain import kpis
from services.segments.domain.audiences import csv_lines, header
from services.segments.domain.cohorts import cohort_retention
from services.segments.entrypoints.insights_jobs import audience_job, insights_job
from services.segments.entrypoints.segments_api import SEGMENT_ID

Month = Annotated[str, Query(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
SegmentId = Annotated[str, Path(pattern=SEGMENT_ID)]
MAX_MONTHS = 36


class AudienceDestination(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["meta", "google"]
    url: AnyHttpUrl
    #: Signs each push (`X-Retention-Signature: sha256=<hmac>`); write-only, never returned.
    secret: Annotated[str | None, Field(min_length=16, max_length=200)] = None


def router(runtime: Runtime, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> APIRouter:
    api = APIRouter(prefix="/internal/v1/merchants/{merchant_id}", tags=["segments"])

    @api.get("/kpis")
    async def merchant_kpis(
        merchant_id: str,
        from_: Annotated[str, Query(alias="from", pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")],
        to: Month,
        by: Literal["overall", "channel", "cohort"] = "overall",
        segment: Annotated[str | None, Query(pattern=SEGMENT_ID)] = None,
    ) -> Any:
        """Monthly KPIs from `from` to `to` (at most 36 months), overall or by first-order channel or cohort,
        optionally only for a segment's current members."""
        months = _months(from_, to)
        if isinstance(months, Response):
            return months
        async with runtime.pool.acquire() as conn:
            facts = await insights.order_facts(conn, merchant_id)
            members = await insights.members(conn, merchant_id, segment) if segment else None
        only = members.__contains__ if members is not None else None
        if by == "overall":
            return {
                "by": by,
                "segment": segment,
                "months": [asdict(k) for k in kpis.monthly_kpis(facts, months, customers=only)],
            }
        split = (kpis.by_channel if by == "channel" else kpis.by_cohort)(facts, months, customers=only)
        return {"by": by, "segment": segment, "groups": {g: [asdict(k) for k in rows] for g, rows in split.items()}}

    @api.get("/kpis/cohorts")
    async def cohorts(
        merchant_id: str,
        from_: Annotated[str, Query(alias="from", pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")],
        to: Month,
        segment: Annotated[str | None, Query(pattern=SEGMENT_ID)] = None,
    ) -> Any:
        """The cohort retention matrix: per first-order month, the share ordering again k months later."""
        months = _months(from_, to)
        if isinstance(months, Response):
            return months
        async with runtime.pool.acquire() as conn:
            facts = await insights.order_facts(conn, merchant_id)
            members = await insights.members(conn, merchant_id, segment) if segment else None
        rows = cohort_retention(facts, from_, to, customers=members.__contains__ if members is not None else None)
        return {"segment": segment, "cohorts": [asdict(r) for r in rows]}

    @api.get("/customers/{customer_id}/prediction")
    async def customer_prediction(merchant_id: str, customer_id: Annotated[str, Path(pattern=ID_PATTERN)]) -> Any:
        """Probability of being active, expected orders and CLV over 12 months, expected next order date."""
        row = await runtime.pool.fetchrow(
            "SELECT * FROM predictions WHERE merchant_id = $1 AND customer_id = $2", merchant_id, customer_id
        )
        model = await runtime.pool.fetchrow("SELECT * FROM prediction_models WHERE merchant_id = $1", merchant_id)
        if row is None:
            detail = "no prediction yet" if model is None or model["status"] == "fitted" else model["status"]
            return problem(404, "No prediction", f"{customer_id}: {detail}",
                           errors=[{"path": "customer_id", "message": detail}])  # fmt: skip
        return {k: v for k, v in dict(row).items() if k != "merchant_id"} | {"model": _model(model)}

    @api.get("/predictions")
    async def predictions(
        merchant_id: str,
        after: Annotated[str, Query(max_length=128)] = "",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> Any:
        """The model (or why there is none yet) and every customer's prediction, in customer-id order."""
        model = await runtime.pool.fetchrow("SELECT * FROM prediction_models WHERE merchant_id = $1", merchant_id)
        rows = await runtime.pool.fetch(
            "SELECT * FROM predictions WHERE merchant_id = $1 AND customer_id > $2 ORDER BY customer_id LIMIT $3",
            merchant_id,
            after,
            limit + 1,
        )
        items = [{k: v for k, v in dict(r).items() if k != "merchant_id"} for r in rows[:limit]]
        return {"model": _model(model), "items": items,
                "next_cursor": items[-1]["customer_id"] if len(rows) > limit else None}  # fmt: skip

    @api.post("/predictions/refresh", status_code=202)
    async def refresh_predictions(merchant_id: str) -> dict[str, str]:
        """Refit now instead of with the nightly run."""
        async with runtime.pool.acquire() as conn:
            await schedule_jobs(conn, [insights_job(merchant_id, clock())], replace=True)
        return {"status": "scheduled"}

    @api.get("/segments/{segment_id}/audience")
    async def audience_csv(merchant_id: str, segment_id: SegmentId, format: Literal["meta", "google"]) -> Any:
        """The segment's members with advertising consent, normalised and SHA-256-hashed in the ad platform's
        upload format, streamed as CSV."""
        if not await _segment_exists(runtime, merchant_id, segment_id):
            return _unknown(segment_id)

        async def lines() -> AsyncIterator[str]:
            yield from_header(format)
            async for page in insights.audience_pages(runtime.pool, merchant_id, segment_id):
                for line in list(csv_lines(format, page))[1:]:
                    yield line

        filename = f"{segment_id}-{format}.csv"
        return StreamingResponse(lines(), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{filename}"'})  # fmt: skip

    @api.get("/segments/{segment_id}/audience-destination")
    async def get_destination(merchant_id: str, segment_id: SegmentId) -> Any:
        row = await runtime.pool.fetchrow(
            "SELECT format, url, last_synced_at, last_added, last_removed, secret IS NOT NULL AS signed "
            "FROM audience_destinations WHERE merchant_id = $1 AND segment_id = $2",
            merchant_id,
            segment_id,
        )
        return dict(row) if row else _unknown(segment_id, "no audience destination")

    @api.put("/segments/{segment_id}/audience-destination")
    async def put_destination(merchant_id: str, segment_id: SegmentId, body: AudienceDestination) -> Any:
        """Push the audience's add/remove deltas to `url` (now, then every 15 minutes), with retries."""
        if not await _segment_exists(runtime, merchant_id, segment_id):
            return _unknown(segment_id)
        async with runtime.pool.acquire() as conn, conn.transaction():
            previous = await conn.fetchval(
                "SELECT format FROM audience_destinations WHERE merchant_id = $1 AND segment_id = $2 FOR UPDATE",
                merchant_id,
                segment_id,
            )
            if previous is not None and previous != body.format:  # other hashes: start the export afresh
                await conn.execute(
                    "DELETE FROM audience_exports WHERE merchant_id = $1 AND segment_id = $2", merchant_id, segment_id
                )
            await conn.execute(
                "INSERT INTO audience_destinations (merchant_id, segment_id, format, url, secret) "
                "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (merchant_id, segment_id) DO UPDATE SET format = $3, "
                "url = $4, secret = $5",
                merchant_id, segment_id, body.format, str(body.url), body.secret,
            )  # fmt: skip
            await schedule_jobs(conn, [audience_job(merchant_id, segment_id, clock())], replace=True)
        return {"format": body.format, "url": str(body.url), "signed": body.secret is not None}

    @api.delete("/segments/{segment_id}/audience-destination", status_code=204)
    async def delete_destination(merchant_id: str, segment_id: SegmentId) -> Response:
        async with runtime.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "DELETE FROM audience_destinations WHERE merchant_id = $1 AND segment_id = $2", merchant_id, segment_id
            )
            await conn.execute(
                "DELETE FROM audience_exports WHERE merchant_id = $1 AND segment_id = $2", merchant_id, segment_id
            )
        return Response(status_code=204)

    @api.post("/segments/{segment_id}/audience-destination/sync", status_code=202)
    async def sync_now(merchant_id: str, segment_id: SegmentId) -> Any:
        async with runtime.pool.acquire() as conn:
            exists = await conn.fetchval(
                "SELECT true FROM audience_destinations WHERE merchant_id = $1 AND segment_id = $2",
                merchant_id,
                segment_id,
            )
            if not exists:
                return _unknown(segment_id, "no audience destination")
            await schedule_jobs(conn, [audience_job(merchant_id, segment_id, clock())], replace=True)
        return {"status": "scheduled"}

    return api


def from_header(fmt: str) -> str:
    return next(iter(csv_lines(fmt, []))) if header(fmt) else ""


def _months(first: str, last: str) -> list[str] | Response:
    a, b = kpis.month_index(first), kpis.month_index(last)
    if b < a or b - a >= MAX_MONTHS:
        wrong = [{"path": "to", "message": f"between from and {MAX_MONTHS} months after it"}]
        return problem(422, "Invalid month range", f"`to` must be `from` up to {MAX_MONTHS} months later", errors=wrong)
    return [kpis.month_label(i) for i in range(a, b + 1)]


async def _segment_exists(runtime: Runtime, merchant_id: str, segment_id: str) -> bool:
    return bool(
        await runtime.pool.fetchval(
            "SELECT true FROM segments WHERE merchant_id = $1 AND segment_id = $2 AND deleted_at IS NULL",
            merchant_id,
            segment_id,
        )
    )


def _model(row: Any) -> dict[str, Any]:
    if row is None:
        return {"status": "not_fitted_yet"}
    return {"status": row["status"], "params": row["params"], "customers": row["customers"],
            "fitted_at": row["fitted_at"]}  # fmt: skip


def _unknown(segment_id: str, detail: str | None = None) -> Response:
    return problem(404, "Unknown segment", detail or f"no segment {segment_id}",
                   errors=[{"path": "segment_id", "message": detail or "unknown"}])  # fmt: skip
