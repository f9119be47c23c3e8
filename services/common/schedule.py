"""The durable schedule every service uses for delayed actions (DESIGN §6).

A service stages a `Job` (review request in 5 days, delay check at the promised date, points expiry)
inside the transaction of the effect that caused it. The `Scheduler` claims due jobs with
`FOR UPDATE SKIP LOCKED`, deletes them, runs the service's handler for their kind and writes the
handler's events to the outbox, all in one transaction: a crash before commit leaves the job due, a
commit makes its effect happen exactly once, and several workers never run the same job.

Handlers get `now` from the scheduler (never the wall clock) so tests drive time explicitly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.common.contract import Contract
from services.common.envelope import Envelope
from services.common.errors import is_transient, retry_transient
from services.common.metrics import KernelMetrics
from services.common.outbox import write_outbox

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """A delayed action; `key` makes scheduling idempotent (e.g. `review_request:<order_id>`)."""

    key: str
    kind: str
    merchant_id: str
    due_at: datetime
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DueJob:
    id: int
    key: str
    kind: str
    merchant_id: str
    due_at: datetime
    payload: dict[str, Any]
    attempts: int


#: `(conn, due_jobs_of_one_kind, now) -> events to emit`; runs inside the claiming transaction.
JobHandler = Callable[[asyncpg.Connection, list[DueJob], datetime], Awaitable[Sequence[Envelope]]]


async def schedule_jobs(conn: asyncpg.Connection, jobs: Sequence[Job], *, replace: bool = False) -> int:
    """Stage jobs in the caller's transaction. `replace` moves an existing job to the new time/payload."""
    if not jobs:
        return 0
    conflict = (
        "DO UPDATE SET due_at = EXCLUDED.due_at, payload = EXCLUDED.payload, kind = EXCLUDED.kind, "
        "attempts = 0, last_error = NULL, failed_at = NULL"
        if replace
        else "DO NOTHING"
    )
    result = await conn.execute(
        "INSERT INTO scheduled_jobs (job_key, kind, merchant_id, due_at, payload) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::jsonb[]) "
        f"ON CONFLICT (job_key) {conflict}",
        [j.key for j in jobs],
        [j.kind for j in jobs],
        [j.merchant_id for j in jobs],
        [j.due_at for j in jobs],
        [dict(j.payload) for j in jobs],
    )
    return int(result.rsplit(" ", 1)[-1])


async def cancel_jobs(conn: asyncpg.Connection, keys: Sequence[str]) -> int:
    """Drop pending jobs (cart reminder once the order arrived); unknown keys are ignored."""
    if not keys:
        return 0
    result = await conn.execute("DELETE FROM scheduled_jobs WHERE job_key = ANY($1::text[])", list(keys))
    return int(result.rsplit(" ", 1)[-1])


class Scheduler:
    def __init__(
        self,
        *,
        service: str,
        pool: asyncpg.Pool,
        contract: Contract,
        handlers: Mapping[str, JobHandler],
        metrics: KernelMetrics,
        after_commit: Callable[[], None] = lambda: None,
        on_committed: Callable[[Sequence[Envelope]], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        batch_size: int = 200,
        poll_interval_s: float = 1.0,
        max_attempts: int = 8,
    ) -> None:
        self.service = service
        self.pool = pool
        self.contract = contract
        self.handlers = dict(handlers)
        self.metrics = metrics
        self.after_commit = after_commit
        self.on_committed = on_committed
        self.clock = clock
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.max_attempts = max_attempts
        self._stopping = False

    def stop(self) -> None:
        self._stopping = True

    async def run_once(self, now: datetime | None = None) -> int:
        """Run the jobs due at `now` (one batch); returns how many committed."""
        now = now or self.clock()
        try:
            done = await self._run_batch(now)
        except Exception as exc:
            if is_transient(exc):
                raise
            log.warning("scheduled batch failed; running its jobs one by one", exc_info=exc)
            done = await self._run_isolated(now)
        await self._record_delay(now)
        return done

    async def run_until_idle(self, now: datetime | None = None) -> int:
        """Drain everything due at `now` (tests, backfills)."""
        total = 0
        while (done := await self.run_once(now)) > 0:
            total += done
        return total

    async def run(self) -> None:
        while not self._stopping:
            done = await retry_transient(self.run_once, name=f"{self.service}:scheduler")
            if not done:
                await asyncio.sleep(self.poll_interval_s)

    async def _run_batch(self, now: datetime) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            jobs = await self._claim(conn, now, self.batch_size)
            emitted = await self._apply(conn, jobs, now)
        self._committed(jobs, emitted)
        return len(jobs)

    async def _run_isolated(self, now: datetime) -> int:
        ids = await self.pool.fetch(
            "SELECT id FROM scheduled_jobs WHERE failed_at IS NULL AND due_at <= $1 ORDER BY due_at LIMIT $2",
            now,
            self.batch_size,
        )
        done = 0
        for row in ids:
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    jobs = await self._claim(conn, now, 1, only_id=row["id"])
                    emitted = await self._apply(conn, jobs, now)
                self._committed(jobs, emitted)
                done += len(jobs)
            except Exception as exc:
                if is_transient(exc):
                    raise
                await self._record_failure(row["id"], now, exc)
        return done

    async def _claim(
        self, conn: asyncpg.Connection, now: datetime, limit: int, only_id: int | None = None
    ) -> list[DueJob]:
        # Deleting while claiming lets a handler re-schedule the same key (a recurring job) freely;
        # a rollback restores the row untouched.
        rows = await conn.fetch(
            """
            DELETE FROM scheduled_jobs WHERE id IN (
                SELECT id FROM scheduled_jobs
                WHERE failed_at IS NULL AND due_at <= $1 AND ($3::bigint IS NULL OR id = $3)
                ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED)
            RETURNING id, job_key, kind, merchant_id, due_at, payload, attempts
            """,
            now,
            limit,
            only_id,
        )
        return [
            DueJob(r["id"], r["job_key"], r["kind"], r["merchant_id"], r["due_at"], r["payload"], r["attempts"])
            for r in sorted(rows, key=lambda r: (r["due_at"], r["id"]))
        ]

    async def _apply(self, conn: asyncpg.Connection, jobs: list[DueJob], now: datetime) -> list[Envelope]:
        by_kind: dict[str, list[DueJob]] = {}
        for job in jobs:
            by_kind.setdefault(job.kind, []).append(job)
        emitted: list[Envelope] = []
        for kind, kind_jobs in by_kind.items():
            handler = self.handlers.get(kind)
            if handler is None:
                raise LookupError(f"no handler for scheduled job kind {kind!r}")
            emitted.extend(await handler(conn, kind_jobs, now))
        await write_outbox(conn, self.contract, emitted)
        return emitted

    def _committed(self, jobs: list[DueJob], emitted: list[Envelope]) -> None:
        for job in jobs:
            self.metrics.jobs_run.labels(self.service, job.kind).inc()
        if jobs:
            self.after_commit()
            if self.on_committed is not None:
                self.on_committed(emitted)

    async def _record_failure(self, job_id: int, now: datetime, exc: BaseException) -> None:
        row = await self.pool.fetchrow(
            """
            UPDATE scheduled_jobs SET attempts = attempts + 1, last_error = $2,
                due_at = $3::timestamptz + make_interval(secs => least(3600, 5 * power(2, attempts))),
                failed_at = CASE WHEN attempts + 1 >= $4 THEN $3 ELSE NULL END
            WHERE id = $1 RETURNING kind, attempts, failed_at
            """,
            job_id,
            f"{type(exc).__name__}: {exc}"[:2000],
            now,
            self.max_attempts,
        )
        if row is None:
            return
        self.metrics.jobs_failed.labels(self.service, row["kind"]).inc()
        log.error(
            "scheduled job failed",
            exc_info=exc,
            extra={
                "job_id": job_id,
                "kind": row["kind"],
                "attempts": row["attempts"],
                "parked": bool(row["failed_at"]),
            },
        )

    async def _record_delay(self, now: datetime) -> None:
        oldest = await self.pool.fetchval("SELECT min(due_at) FROM scheduled_jobs WHERE failed_at IS NULL")
        lag = (now - oldest).total_seconds() if oldest is not None and oldest < now else 0.0
        self.metrics.schedule_delay.labels(self.service).set(lag)
