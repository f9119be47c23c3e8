"""Segments' scheduled work: the recurring re-evaluation per merchant (time-dependent segments, lifecycle, RFM
refresh, daily birthday and tenure triggers), re-evaluation after a definition changed, cross-sell.

A walk over a merchant's customers is a chain of pages, each its own job run and transaction: the job re-arms
itself with the last customer id until the walk is done. So a walk of a million customers holds row locks and
events for one page at a time (never blocks the consumer for long, never builds one huge outbox insert), and a
crash resumes at the page it was on. Every page evaluates at the walk's start time (`run_at`, in the payload), so
the walk is one consistent picture and a retried page emits the same event ids. Profiles are read without locks
and written back only when nobody saved them meanwhile (`revision`), so a walk never overwrites fresher facts.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime, timedelta

import asyncpg

from services.common.envelope import Envelope, new_envelope
from services.common.schedule import DueJob, Job, JobHandler, schedule_jobs
from services.segments.adapters import store
from services.segments.domain.membership import Segment
from services.segments.domain.reassess import reassess
from services.segments.domain.rfm import RfmCuts
from services.segments.entrypoints.consumers import REEVALUATE_EVERY, job_source
from services.segments.entrypoints.insights_jobs import insights_job
from services.segments.metrics import SegmentsMetrics

PAGE = 1_000
#: Customers one claimed batch of walk jobs may reassess; jobs beyond it go back to the schedule, due at once.
BUDGET = 2_000


async def reassess_page(
    conn: asyncpg.Connection,
    merchant_id: str,
    segments: list[Segment],
    cuts: RfmCuts | None,
    now: datetime,
    *,
    cause: str,
    source: uuid.UUID,
    after: str = "",
    only: set[str] | None = None,
    gone: Mapping[str, tuple[str, int]] | None = None,
    daily_for: date | None = None,
    page: int = PAGE,
) -> tuple[list[Envelope], int, str | None]:
    """Reassess the next page of customers after `after`; returns the events, how many were read, and the last
    customer id (None once the walk is through)."""
    rows = await store.profile_page(conn, merchant_id, after, page)
    changed, events_of = [], {}
    for stored, revision in rows:
        outcome = reassess(
            merchant_id, stored.profile, stored.memberships, segments, cuts, now,
            cause=cause, source_id=source, only=only, gone=gone, daily_for=daily_for,
        )  # fmt: skip
        if outcome.changed_from(stored.profile, stored.memberships) or outcome.events:
            changed.append((store.StoredProfile(merchant_id, outcome.profile, outcome.memberships), revision))
            events_of[stored.profile.customer_id] = outcome.events
    written = await store.save_if_unchanged(conn, changed, now)
    emitted = [e for customer, events in events_of.items() if customer in written for e in events]
    last = rows[-1][0].profile.customer_id if len(rows) == page else None
    return emitted, len(rows), last


async def walk_merchant(
    conn: asyncpg.Connection,
    merchant_id: str,
    segments: list[Segment],
    cuts: RfmCuts | None,
    now: datetime,
    *,
    cause: str,
    job_key: str,
    only: set[str] | None = None,
    gone: Mapping[str, tuple[str, int]] | None = None,
    daily_for: date | None = None,
    page: int = PAGE,
) -> tuple[list[Envelope], int]:
    """Every page at once, in the caller's transaction (tools and benchmarks; the schedule goes page by page)."""
    emitted, seen, after = [], 0, ""
    while True:
        events, read, last = await reassess_page(
            conn, merchant_id, segments, cuts, now, cause=cause, source=job_source(job_key, now), after=after,
            only=only, gone=gone, daily_for=daily_for, page=page,
        )  # fmt: skip
        emitted += events
        seen += read
        if last is None:
            return emitted, seen
        after = last


class SegmentJobs:
    def __init__(self, metrics: SegmentsMetrics, every: timedelta = REEVALUATE_EVERY, page: int = PAGE) -> None:
        self.metrics = metrics
        self.every = every
        self.page = page
        self.segments = store.SegmentCache()

    def handlers(self) -> dict[str, JobHandler]:
        return {"reevaluate": self.reevaluate, "evaluate_segments": self.evaluate_segments, "cross_sell": cross_sell}

    async def reevaluate(self, conn: asyncpg.Connection, jobs: list[DueJob], now: datetime) -> list[Envelope]:
        """The recurring run: new RFM boundaries (first page), time-dependent segments, lifecycle, daily triggers;
        re-armed for the next run once the last page is done."""
        emitted: list[Envelope] = []
        budget = BUDGET
        for n, job in enumerate(jobs):
            if budget <= 0:
                await _defer(conn, jobs[n:])
                break
            merchant, payload = job.merchant_id, dict(job.payload)
            if "run_at" not in payload:  # a new walk
                run_at = now
                cuts = await store.refresh_rfm(conn, merchant, run_at)
                payload.update(run_at=run_at.isoformat(), after="",
                               daily=payload.get("last_day") != run_at.date().isoformat())  # fmt: skip
            else:
                run_at = datetime.fromisoformat(payload["run_at"])
                cuts = (await store.rfm_cuts(conn, [merchant])).get(merchant)
            segments = (await self.segments.live(conn, [merchant])).get(merchant, [])
            events, read, last = await reassess_page(
                conn, merchant, segments, cuts, run_at, cause="schedule", source=job_source(job.key, run_at),
                after=payload["after"], only={s.segment_id for s in segments if s.time_dependent},
                daily_for=run_at.date() if payload["daily"] else None, page=self.page,
            )  # fmt: skip
            emitted += events
            budget -= read
            self.metrics.reevaluated.inc(read)
            if last is not None:
                await schedule_jobs(
                    conn, [Job(job.key, job.kind, merchant, now, {**payload, "after": last})], replace=True
                )
                continue
            self.metrics.reevaluation_seconds.observe(max(0.0, (now - run_at).total_seconds()))
            next_run = Job(
                job.key, "reevaluate", merchant, run_at + self.every, {"last_day": run_at.date().isoformat()}
            )
            await schedule_jobs(conn, [next_run], replace=True)
            if payload["daily"]:  # predictions and KPI gauges once a day, as their own job
                await schedule_jobs(conn, [insights_job(merchant, run_at)])
        return emitted

    async def evaluate_segments(self, conn: asyncpg.Connection, jobs: list[DueJob], now: datetime) -> list[Envelope]:
        """A segment was created, changed or deleted: every customer of the merchant against just that segment."""
        emitted: list[Envelope] = []
        budget = BUDGET
        for n, job in enumerate(jobs):
            if budget <= 0:
                await _defer(conn, jobs[n:])
                break
            merchant, payload = job.merchant_id, dict(job.payload)
            run_at = datetime.fromisoformat(payload["run_at"]) if "run_at" in payload else now
            segments = (await self.segments.live(conn, [merchant])).get(merchant, [])
            cuts = (await store.rfm_cuts(conn, [merchant])).get(merchant)
            gone = {k: (v[0], v[1]) for k, v in (payload.get("gone") or {}).items()}
            events, read, last = await reassess_page(
                conn, merchant, segments, cuts, run_at, cause="definition_changed",
                source=job_source(job.key, run_at), after=payload.get("after", ""),
                only=set(payload.get("segment_ids") or ()), gone=gone, page=self.page,
            )  # fmt: skip
            emitted += events
            budget -= read
            self.metrics.reevaluated.inc(read)
            if last is not None:
                rest = {**payload, "run_at": run_at.isoformat(), "after": last}
                await schedule_jobs(conn, [Job(job.key, job.kind, merchant, now, rest)], replace=True)
        return emitted


async def _defer(conn: asyncpg.Connection, jobs: list[DueJob]) -> None:
    """Claimed but over this run's budget: back to the schedule unchanged, due at once (the next run takes them)."""
    await schedule_jobs(conn, [Job(j.key, j.kind, j.merchant_id, j.due_at, j.payload) for j in jobs], replace=True)


async def cross_sell(conn: asyncpg.Connection, jobs: list[DueJob], now: datetime) -> list[Envelope]:
    """N days after a delivery: the order's categories, for the merchant's cross-sell (not for erased customers)."""
    emitted: list[Envelope] = []
    for job in jobs:
        customer_id, order_id = job.payload["customer_id"], job.payload["order_id"]
        row = await conn.fetchrow(
            "SELECT o.categories, coalesce(p.erased, false) AS erased, o.cancelled FROM orders o "
            "LEFT JOIN profiles p ON p.merchant_id = o.merchant_id AND p.customer_id = o.customer_id "
            "WHERE o.merchant_id = $1 AND o.order_id = $2",
            job.merchant_id,
            order_id,
        )
        if row is None or row["erased"] or row["cancelled"]:
            continue
        data = {"customer_id": customer_id, "trigger": "cross_sell", "order_id": order_id,
                "categories": list(row["categories"])[:50]}  # fmt: skip
        source = job_source(job.key, job.due_at)
        emitted.append(new_envelope("segments.triggered", job.merchant_id, data, occurred_at=now, event_id=source))
    return emitted
