"""The kernel's durable schedule on real PostgreSQL: idempotent staging, exactly-once runs, failures."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.common.contract import load_contract
from services.common.envelope import new_envelope
from services.common.migrations import apply_migrations, migrations_for
from services.common.schedule import DueJob, Job, Scheduler, cancel_jobs, schedule_jobs

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
async def pool(schema_pool) -> asyncpg.Pool:
    schema, pool = schema_pool
    await apply_migrations(pool, schema, migrations_for(None))
    await pool.execute("CREATE TABLE effects (job_key text NOT NULL, ran_at timestamptz NOT NULL)")
    return pool


def scheduler(pool, kernel_metrics, handlers, **kw) -> Scheduler:
    return Scheduler(
        service="test", pool=pool, contract=load_contract(), handlers=handlers, metrics=kernel_metrics, **kw
    )


async def record_effect(conn: asyncpg.Connection, jobs: list[DueJob], now: datetime) -> list:
    await conn.executemany("INSERT INTO effects VALUES ($1, $2)", [(j.key, now) for j in jobs])
    return []


async def test_a_job_runs_once_when_due_and_scheduling_it_twice_keeps_one(pool, kernel_metrics, merchant_id) -> None:
    job = Job(f"remind:{merchant_id}", "remind", merchant_id, NOW + timedelta(days=2), {"order_id": "o-1"})
    async with pool.acquire() as conn:
        assert await schedule_jobs(conn, [job]) == 1
        assert await schedule_jobs(conn, [job]) == 0  # a redelivered cause schedules nothing new
    runner = scheduler(pool, kernel_metrics, {"remind": record_effect})

    assert await runner.run_until_idle(NOW + timedelta(days=1)) == 0
    assert await runner.run_until_idle(NOW + timedelta(days=2)) == 1
    assert await runner.run_until_idle(NOW + timedelta(days=3)) == 0

    assert [r["job_key"] for r in await pool.fetch("SELECT job_key FROM effects")] == [job.key]
    assert await pool.fetchval("SELECT count(*) FROM scheduled_jobs") == 0
    assert kernel_metrics.jobs_run.labels("test", "remind")._value.get() == 1


async def test_replace_moves_a_job_and_cancel_removes_it(pool, kernel_metrics, merchant_id) -> None:
    early = Job("a", "remind", merchant_id, NOW, {"v": 1})
    async with pool.acquire() as conn:
        await schedule_jobs(conn, [early, Job("b", "remind", merchant_id, NOW)])
        await schedule_jobs(conn, [Job("a", "remind", merchant_id, NOW + timedelta(hours=5), {"v": 2})], replace=True)
        assert await cancel_jobs(conn, ["b", "unknown"]) == 1
    row = await pool.fetchrow("SELECT due_at, payload FROM scheduled_jobs WHERE job_key = 'a'")
    assert row["due_at"] == NOW + timedelta(hours=5) and row["payload"] == {"v": 2}
    assert await scheduler(pool, kernel_metrics, {"remind": record_effect}).run_until_idle(NOW) == 0


async def test_emitted_events_reach_the_outbox_in_the_jobs_transaction(pool, kernel_metrics, merchant_id) -> None:
    async def emit(conn, jobs, now):
        return [
            new_envelope(
                "customer.erasure_requested",
                j.merchant_id,
                {"customer_id": j.payload["customer_id"], "request_id": j.key},
                occurred_at=now,
            )
            for j in jobs
        ]

    async with pool.acquire() as conn:
        await schedule_jobs(conn, [Job("r-1", "erase", merchant_id, NOW, {"customer_id": "c-1"})])
    committed: list = []
    await scheduler(pool, kernel_metrics, {"erase": emit}, on_committed=committed.extend).run_until_idle(NOW)

    (row,) = await pool.fetch("SELECT topic FROM outbox")
    assert row["topic"] == "shop.customers"
    assert [e.type for e in committed] == ["customer.erasure_requested"]  # told once, after the commit


async def test_a_failing_job_backs_off_alone_and_is_parked_after_max_attempts(
    pool, kernel_metrics, merchant_id
) -> None:
    async def flaky(conn, jobs, now):
        if any(j.payload.get("bad") for j in jobs):
            raise ValueError("template missing")
        return await record_effect(conn, jobs, now)

    async with pool.acquire() as conn:
        await schedule_jobs(
            conn,
            [Job("good", "k", merchant_id, NOW), Job("bad", "k", merchant_id, NOW, {"bad": True})],
        )
    runner = scheduler(pool, kernel_metrics, {"k": flaky}, max_attempts=2)

    assert await runner.run_once(NOW) == 1  # the good job is not held back by the bad one
    bad = await pool.fetchrow("SELECT attempts, due_at, failed_at, last_error FROM scheduled_jobs")
    assert bad["attempts"] == 1 and bad["due_at"] > NOW and bad["failed_at"] is None
    assert "template missing" in bad["last_error"]

    await runner.run_once(bad["due_at"])
    parked = await pool.fetchrow("SELECT attempts, failed_at FROM scheduled_jobs")
    assert parked["attempts"] == 2 and parked["failed_at"] is not None
    assert await runner.run_once(NOW + timedelta(days=30)) == 0  # parked jobs stay parked
    assert [r["job_key"] for r in await pool.fetch("SELECT job_key FROM effects")] == ["good"]
    assert kernel_metrics.jobs_failed.labels("test", "k")._value.get() == 2


async def test_concurrent_schedulers_never_run_a_job_twice(pool, kernel_metrics, merchant_id) -> None:
    async def slow(conn, jobs, now):
        await asyncio.sleep(0.01)
        return await record_effect(conn, jobs, now)

    async with pool.acquire() as conn:
        await schedule_jobs(conn, [Job(f"j-{i}", "k", merchant_id, NOW) for i in range(300)])
    runners = [scheduler(pool, kernel_metrics, {"k": slow}, batch_size=20) for _ in range(4)]

    await asyncio.gather(*(r.run_until_idle(NOW) for r in runners))

    counts = await pool.fetch("SELECT job_key, count(*) AS n FROM effects GROUP BY job_key")
    assert len(counts) == 300 and all(r["n"] == 1 for r in counts)


async def test_a_rolled_back_run_leaves_the_job_due(pool, kernel_metrics, merchant_id) -> None:
    async def crash_after_effect(conn, jobs, now):
        await record_effect(conn, jobs, now)
        raise asyncpg.exceptions.DeadlockDetectedError("simulated")  # transient: propagates, nothing commits

    async with pool.acquire() as conn:
        await schedule_jobs(conn, [Job("once", "k", merchant_id, NOW)])
    with pytest.raises(asyncpg.exceptions.DeadlockDetectedError):
        await scheduler(pool, kernel_metrics, {"k": crash_after_effect}).run_once(NOW)
    assert await pool.fetchval("SELECT count(*) FROM effects") == 0

    assert await scheduler(pool, kernel_metrics, {"k": record_effect}).run_until_idle(NOW) == 1
    assert await pool.fetchval("SELECT count(*) FROM effects") == 1
