"""What the service benchmarks share: producing a backlog, the raw aiokafka baselines, a real worker process
(`retention serve <service>`) and reading its progress from its inbox in PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from services.common.contract import load_contract
from services.common.envelope import Envelope
from services.common.kafka import create_topics
from services.platform.infra import EmbeddedBroker, EmbeddedPostgres, free_port

REPO = Path(__file__).resolve().parents[1]
CONTRACT = load_contract()
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


async def produce(producer: AIOKafkaProducer, events: list[Envelope]) -> None:
    futures = [
        await producer.send(CONTRACT.topic_for(e.type).name, e.to_bytes(), key=CONTRACT.partition_key(e))
        for e in events
    ]
    await asyncio.gather(*futures)


def raw_consumer(kafka: str, group: str, topic: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=5000,
        fetch_max_bytes=4 * 1024 * 1024,
    )


async def _drain(kafka: str, group: str, topic: str, expected: int, apply) -> float:
    """Read `expected` records in batches of up to 500, `apply` each batch, commit: records/s from the first."""
    consumer = raw_consumer(kafka, group, topic)
    await consumer.start()
    seen, started = 0, None
    try:
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            records = [r for rs in batches.values() for r in rs]
            if not records:
                continue
            started = started or time.perf_counter()
            await apply(records)
            await consumer.commit()
            seen += len(records)
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def raw_consume_produce(kafka: str, producer: AIOKafkaProducer, expected: int, topic: str) -> float:
    """The issue's raw baseline: read each record, write it to another topic (acks=all), commit per batch."""

    async def forward(records: list[ConsumerRecord]) -> None:
        await asyncio.gather(*[await producer.send("bench.raw", r.value, key=r.key) for r in records])

    return await _drain(kafka, "bench-raw-produce", topic, expected, forward)


async def raw_consume_store(kafka: str, database_url: str, expected: int, topic: str) -> float:
    """What the database adds at the least: decode each record, insert a row per event, commit per batch."""
    conn = await asyncpg.connect(database_url)
    await conn.execute("CREATE TABLE IF NOT EXISTS public.bench_raw (event_id uuid PRIMARY KEY, body jsonb)")

    async def store(records: list[ConsumerRecord]) -> None:
        rows = [(uuid.UUID(json.loads(r.value)["event_id"]), r.value.decode()) for r in records]
        async with conn.transaction():
            await conn.executemany("INSERT INTO public.bench_raw VALUES ($1, $2::jsonb)", rows)

    try:
        return await _drain(kafka, "bench-raw-store", topic, expected, store)
    finally:
        await conn.close()


@dataclass
class Stack:
    """The embedded broker and PostgreSQL, topics, a producer and a connection: what every benchmark starts."""

    workdir: Path
    kafka: str
    database_url: str
    producer: AIOKafkaProducer
    conn: asyncpg.Connection


@contextlib.asynccontextmanager
async def bench_stack(name: str) -> AsyncIterator[Stack]:
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    broker, postgres = EmbeddedBroker(free_port(), workdir / "broker.log"), EmbeddedPostgres(workdir / "pg")
    broker.start()
    try:
        database_url = await asyncio.to_thread(postgres.start)
        await create_topics(broker.bootstrap_servers, [*CONTRACT.topics_to_create(), ("bench.raw", 4, {})])
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all", linger_ms=5)
        await producer.start()
        conn = await asyncpg.connect(database_url)
        try:
            yield Stack(workdir, broker.bootstrap_servers, database_url, producer, conn)
        finally:
            await conn.close()
            await producer.stop()
    finally:
        broker.stop()
        await asyncio.to_thread(postgres.stop)


class Worker:
    def __init__(
        self, service: str, kafka: str, database_url: str, workdir: Path, extra_env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            **(extra_env or {}),
            "KAFKA_BOOTSTRAP_SERVERS": kafka,
            "DATABASE_URL": database_url,
            "RETENTION_HTTP_PORT": str(self.port),
            "RETENTION_FAUST_DATA_DIR": str(workdir / "faust"),
            "RETENTION_LOG_LEVEL": "WARNING",
        }
        self.log = open(workdir / "worker.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.platform.cli", "serve", service],
            cwd=REPO,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    async def ready(self) -> None:
        deadline = time.monotonic() + 90
        async with httpx.AsyncClient(timeout=2) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the worker exited; see {self.log.name}")
                try:
                    if (await http.get(f"http://127.0.0.1:{self.port}/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        raise TimeoutError("the worker did not become ready")

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
        return kib / 1024

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def cpu_seconds(pid: int, children: bool = False) -> float:
    """CPU time a process spent so far (user + system; with `children`, also its reaped children's)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = sum(int(f) for f in fields[11 : 15 if children else 13])  # utime stime (cutime cstime)
    return ticks / CLOCK_TICKS


def parent_pid(pid: int | str) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


def pids_where(predicate) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if predicate(entry):
                    found.append(int(entry.name))
            except OSError:
                pass  # it ended meanwhile
    return found


def postgres_cpu_seconds(postmaster: int) -> float:
    """PostgreSQL's CPU so far: the postmaster with the children it reaped, and its live backends."""
    backends = pids_where(lambda proc: parent_pid(proc.name) == postmaster)
    return cpu_seconds(postmaster, children=True) + sum(cpu_seconds(p) for p in backends)


async def inbox_count(conn: asyncpg.Connection, schema: str, inbox: str) -> int:
    return await conn.fetchval(f"SELECT count(*) FROM {schema}.processed_events WHERE consumer = $1", inbox)


async def throughput(conn: asyncpg.Connection, schema: str, inbox: str, expected: int, timeout_s: float = 600) -> float:
    """Events/s from the start of the first applied batch to the start of the last one.

    Every inbox row carries its transaction's start time, so the figure comes from the database, not from
    polling (a poll every 0.5 s only waits for the end): events in all batches but the last, over the time
    between the first and the last batch. Group join and start-up are not counted.
    """
    deadline = time.monotonic() + timeout_s
    while await inbox_count(conn, schema, inbox) < expected:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the worker applied {await inbox_count(conn, schema, inbox)} of {expected} events")
        await asyncio.sleep(0.5)
    first, last, in_last = await conn.fetchrow(
        f"""
        WITH applied AS (SELECT processed_at FROM {schema}.processed_events WHERE consumer = $1)
        SELECT min(processed_at), max(processed_at),
               (SELECT count(*) FROM applied WHERE processed_at = (SELECT max(processed_at) FROM applied))
        FROM applied
        """,
        inbox,
    )
    return (expected - in_last) / (last - first).total_seconds()


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) >= 2 else values[0]
