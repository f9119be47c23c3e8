"""Segments' scheduled work: the recurring re-evaluation per merchant (time-dependent segments, lifecycle, RFM
refresh, daily birthday and tenure triggers, KPI gauges), re-evaluation after a definition changed, cross-sell.

A walk reads profiles in pages without locks and writes back only customers whose reassessment changed
something and whom no consumer saved meanwhile (`revision`), so a re-evaluation of a large shop never blocks
ingestion and never overwrites fresher facts.
"""

from __future__ import annotations

import time
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

PAGE = 2_000


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
    """Reassess every customer of the merchant; returns the events and how many customers were reassessed."""
    source = job_source(job_key, now)
    emitted: list[Envelope] = []
    after, seen = "", 0
    while rows := await store.profile_page(conn, merchant_id, after, page):
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
        emitted += [e for customer, events in events_of.items() if customer in written for e in events]
        seen += len(rows)
        after = rows[-1][0].profile.customer_id
    return emitted, seen


class SegmentJobs:
    def __init__(self, metrics: SegmentsMetrics, every: timedelta = REEVALUATE_EVERY) -> None:
        self.metrics = metrics
        self.every = every
        self.segments = store.SegmentCache()

    def handlers(self) -> dict[str, JobHandler]:
        return {"reevaluate": self.reevaluate, "evaluate_segments": self.evaluate_segments, "cross_sell": cross_sell}

    async def reevaluate(self, conn: asyncpg.Connection, jobs: list[DueJob], now: datetime) -> list[Envelope]:
        """The recurring run: new RFM boundaries, time-dependent segments, lifecycle, daily triggers; re-armed."""
        emitted: list[Envelope] = []
        for job in jobs:
            started = time.perf_counter()
            merchant = job.merchant_id
            cuts = await store.refresh_rfm(conn, merchant, now)
            segments = (await self.segments.live(conn, [merchant])).get(merchant, [])
            timed = {s.segment_id for s in segments if s.time_dependent}
            new_day = job.payload.get("last_day") != now.date().isoformat()
            events, seen = await walk_merchant(
                conn, merchant, segments, cuts, now, cause="schedule", job_key=job.key, only=timed,
                daily_for=now.date() if new_day else None,
            )  # fmt: skip
            emitted += events
            next_run = Job(job.key, "reevaluate", merchant, now + self.every, {"last_day": now.date().isoformat()})
            await schedule_jobs(conn, [next_run], replace=True)
            if new_day:  # predictions and KPI gauges once a day, as their own job (a failed fit blocks nothing here)
                await schedule_jobs(conn, [insights_job(merchant, now)])
            self.metrics.reevaluation_seconds.observe(time.perf_counter() - started)
            self.metrics.reevaluated.inc(seen)
        return emitted

    async def evaluate_segments(self, conn: asyncpg.Connection, jobs: list[DueJob], now: datetime) -> list[Envelope]:
        """A segment was created, changed or deleted: every customer of the merchant against just that segment."""
        emitted: list[Envelope] = []
        for job in jobs:
            merchant = job.merchant_id
            segments = (await self.segments.live(conn, [merchant])).get(merchant, [])
            cuts = (await store.rfm_cuts(conn, [merchant])).get(merchant)
            gone = {k: (v[0], v[1]) for k, v in (job.payload.get("gone") or {}).items()}
            only = set(job.payload.get("segment_ids") or ())
            events, seen = await walk_merchant(
                conn, merchant, segments, cuts, now, cause="definition_changed", job_key=job.key, only=only,
                gone=gone,
            )  # fmt: skip
            emitted += events
            self.metrics.reevaluated.inc(seen)
        return emitted


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
