"""Scheduled insights: the daily prediction refresh with KPI gauges, and audience syncs to ad-platform destinations.

An audience sync pushes inside the job's transaction: if the destination fails for good the transaction rolls
back, nothing is recorded as exported, and the durable schedule retries with backoff; the idempotency key is the
digest of the delta, so a destination that did receive a push before a crash sees the same key again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import asyncpg
import httpx

from services.common.envelope import Envelope
from services.common.schedule import DueJob, Job, JobHandler, schedule_jobs
from services.segments.adapters import insights
from services.segments.adapters.audience_push import AudiencePusher
from services.segments.domain import kpis
from services.segments.domain.audiences import delta, delta_payload, row_dict
from services.segments.domain.predictions import (
    NotEnoughHistory,
    Prediction,
    fit_bgnbd,
    fit_gamma_gamma,
    history_from_orders,
    predict,
)
from services.segments.metrics import SegmentsMetrics

log = logging.getLogger(__name__)
AUDIENCE_SYNC_EVERY = timedelta(minutes=15)
KPI_GAUGES = ("repeat_customer_rate", "purchase_frequency_12m", "average_order_value_minor", "historical_clv_minor",
              "churn_rate", "mean_days_between_orders")  # fmt: skip


def insights_job(merchant_id: str, now: datetime) -> Job:
    return Job(f"insights:{merchant_id}:{now.date().isoformat()}", "insights", merchant_id, now, {})


def audience_job(merchant_id: str, segment_id: str, due: datetime) -> Job:
    return Job(f"audience:{merchant_id}:{segment_id}", "audience_sync", merchant_id, due, {"segment_id": segment_id})


class InsightJobs:
    def __init__(
        self,
        metrics: SegmentsMetrics,
        client_factory: Callable[[], httpx.AsyncClient] = lambda: httpx.AsyncClient(timeout=10.0),
        sync_every: timedelta = AUDIENCE_SYNC_EVERY,
        push_attempts: int = 3,
    ) -> None:
        self.metrics = metrics
        self.client_factory = client_factory
        self.sync_every = sync_every
        self.push_attempts = push_attempts

    def handlers(self) -> dict[str, JobHandler]:
        return {"insights": self.refresh, "audience_sync": self.sync_audience}

    async def refresh(self, conn: asyncpg.Connection, jobs: list[DueJob], now: datetime) -> list[Envelope]:
        for job in jobs:
            facts = await insights.order_facts(conn, job.merchant_id)
            await self._predict(conn, job.merchant_id, facts, now)
            self._gauges(job.merchant_id, facts, now)
        return []

    async def _predict(self, conn: asyncpg.Connection, merchant_id: str, facts: list[kpis.OrderFact], now) -> None:
        erased = {r[0] for r in await conn.fetch("SELECT customer_id FROM profiles WHERE merchant_id = $1 AND erased",
                                                  merchant_id)}  # fmt: skip
        per_customer: dict[str, list[kpis.OrderFact]] = {}
        for fact in facts:
            if not fact.cancelled and fact.placed_at <= now and fact.customer_id not in erased:
                per_customer.setdefault(fact.customer_id, []).append(fact)
        histories = {
            c: history_from_orders([f.placed_at for f in fs], [f.net_minor for f in fs], now)
            for c, fs in per_customer.items()
        }
        try:
            bg = fit_bgnbd(list(histories.values()), penalizer=1.0)
            gg = fit_gamma_gamma(list(histories.values()), penalizer=1.0)
        except NotEnoughHistory as exc:
            await insights.save_predictions(conn, merchant_id, "not_enough_history", {"reason": str(exc)}, {}, now)
            return
        predictions: dict[str, Prediction] = {c: predict(bg, gg, h, now) for c, h in histories.items()}
        params = {"bgnbd": {"r": bg.r, "alpha": bg.alpha, "a": bg.a, "b": bg.b},
                  "gamma_gamma": {"p": gg.p, "q": gg.q, "v": gg.v}}  # fmt: skip
        await insights.save_predictions(conn, merchant_id, "fitted", params, predictions, now)

    def _gauges(self, merchant_id: str, facts: list[kpis.OrderFact], now: datetime) -> None:
        month = now.strftime("%Y-%m")
        overall = kpis.monthly_kpis(facts, [month])[0]
        groups = {"all": overall, **{ch: rows[0] for ch, rows in kpis.by_channel(facts, [month]).items()}}
        for channel, values in groups.items():
            for name in KPI_GAUGES:
                value = getattr(values, name)
                self.metrics.kpi.labels(merchant_id, name, channel).set(float("nan") if value is None else value)

    async def sync_audience(self, conn: asyncpg.Connection, jobs: list[DueJob], now: datetime) -> list[Envelope]:
        for job in jobs:
            segment_id = job.payload["segment_id"]
            destination = await conn.fetchrow(
                "SELECT d.format, d.url, d.secret FROM audience_destinations d JOIN segments s USING (merchant_id, "
                "segment_id) WHERE d.merchant_id = $1 AND d.segment_id = $2 AND s.deleted_at IS NULL",
                job.merchant_id,
                segment_id,
            )
            if destination is None:
                continue  # removed meanwhile: the recurring sync ends here
            await self._push(conn, job.merchant_id, segment_id, destination, now)
            await schedule_jobs(conn, [audience_job(job.merchant_id, segment_id, now + self.sync_every)], replace=True)
        return []

    async def _push(self, conn: asyncpg.Connection, merchant_id: str, segment_id: str, destination, now) -> None:
        fmt = destination["format"]
        now_members = await insights.eligible_members(conn, merchant_id, segment_id)
        before = await insights.exported(conn, merchant_id, segment_id)
        change = delta(set(before), set(now_members))
        if not change.added and not change.removed:
            return
        added_rows = {c: r for c in change.added if (r := row_dict(fmt, now_members[c])) is not None}
        payload = delta_payload(fmt, [], [before[c] for c in change.removed])
        payload["add"] = list(added_rows.values())
        key = hashlib.sha256(json.dumps([segment_id, payload], sort_keys=True).encode()).hexdigest()
        async with self.client_factory() as client:
            pusher = AudiencePusher(client, attempts=self.push_attempts)
            await pusher.push(destination["url"], destination["secret"], payload, idempotency_key=key)
        await insights.record_export(conn, merchant_id, segment_id, added_rows, list(change.removed), now)
        log.info("audience pushed", extra={"segment_id": segment_id, "added": len(added_rows),
                                           "removed": len(change.removed)})  # fmt: skip
