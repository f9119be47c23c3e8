"""One real loyalty worker (`retention serve loyalty`) on the embedded broker and PostgreSQL, against a raw
consumer that does the least the worker must do, in the same run.

    make bench-loyalty          # or: python -m bench.loyalty --orders 10000 --rate 1000 --seconds 15

1. Raw baselines on the pre-produced order.placed + order.paid backlog: an aiokafka consumer that
   produces each record to another topic and commits per batch (the ratio's denominator), and one that
   decodes each record and inserts a row per event in one transaction per batch (what a database adds).
2. Throughput: the worker starts against the same backlog (its own consumer group); events/s is the
   inbox count over the time from its first to its last applied batch (group join excluded).
3. Latency: the running worker gets fresh events paced at --rate per second; each event's latency runs
   from its `occurred_at` (set when it is sent) to when its inbox row is visible, i.e. committed
   (polled every 10 ms, so figures are at most ~10 ms high).
4. Memory: the worker's peak RSS (VmHWM) at the end.

The last line reads `RESULT loyalty events_per_s=<n> p99_ms=<n> rss_mb=<n> ratio_to_raw=<r>`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.common.contract import load_contract
from services.common.envelope import Envelope
from services.common.kafka import create_topics
from services.platform.infra import EmbeddedBroker, EmbeddedPostgres, free_port
from tests.loyalty_model import order_paid, order_placed

REPO = Path(__file__).resolve().parents[1]
CONTRACT = load_contract()
INBOX = "loyalty.orders"


def order_events(merchant_id: str, orders: int, at: datetime | None = None) -> list[Envelope]:
    """placed + paid per order, over 5,000 customers (so accounts are revisited as in a real shop)."""
    events = []
    for n in range(orders):
        customer, order = f"c-{n % 5000}", f"{merchant_id}-o{n}-{uuid.uuid4().hex[:8]}"
        when = at or datetime.now(UTC)
        lines = [("l1", 1 + n % 3, 1000 + n % 7000, "shoes"), ("l2", 1, 500 + n % 900, "care")]
        for event in (order_placed(customer, order, when, lines), order_paid(customer, order, when)):
            events.append(event.model_copy(update={"merchant_id": merchant_id, "event_id": uuid.uuid4()}))
    return events


async def produce(producer: AIOKafkaProducer, events: list[Envelope]) -> None:
    futures = [
        await producer.send(CONTRACT.topic_for(e.type).name, e.to_bytes(), key=CONTRACT.partition_key(e))
        for e in events
    ]
    await asyncio.gather(*futures)


def raw_consumer(kafka: str, group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        "shop.orders",
        bootstrap_servers=kafka,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=5000,
        fetch_max_bytes=4 * 1024 * 1024,
    )


async def raw_consume_produce(kafka: str, producer: AIOKafkaProducer, expected: int) -> float:
    """The issue's raw baseline: read each record, write it to another topic (acks=all), commit per batch."""
    consumer = raw_consumer(kafka, "bench-raw-produce")
    await consumer.start()
    seen, started = 0, None
    try:
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            records = [r for rs in batches.values() for r in rs]
            if not records:
                continue
            started = started or time.perf_counter()
            await asyncio.gather(*[await producer.send("bench.raw", r.value, key=r.key) for r in records])
            await consumer.commit()
            seen += len(records)
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def raw_consume_store(kafka: str, database_url: str, expected: int) -> float:
    """What the database adds at the least: decode each record, insert a row per event, commit per batch."""
    conn = await asyncpg.connect(database_url)
    await conn.execute("CREATE TABLE IF NOT EXISTS public.bench_raw (event_id uuid PRIMARY KEY, body jsonb)")
    consumer = raw_consumer(kafka, "bench-raw-store")
    await consumer.start()
    seen, started = 0, None
    try:
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            records = [r for rs in batches.values() for r in rs]
            rows = [(uuid.UUID(json.loads(r.value)["event_id"]), r.value.decode()) for r in records]
            if not rows:
                continue
            started = started or time.perf_counter()
            async with conn.transaction():
                await conn.executemany("INSERT INTO public.bench_raw VALUES ($1, $2::jsonb)", rows)
            await consumer.commit()
            seen += len(rows)
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        await conn.close()


class Worker:
    def __init__(self, kafka: str, database_url: str, workdir: Path) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": kafka,
            "DATABASE_URL": database_url,
            "RETENTION_HTTP_PORT": str(self.port),
            "RETENTION_FAUST_DATA_DIR": str(workdir / "faust"),
            "RETENTION_LOG_LEVEL": "WARNING",
        }
        self.log = open(workdir / "worker.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.platform.cli", "serve", "loyalty"],
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

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
        return kib / 1024

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


async def inbox_count(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM loyalty.processed_events WHERE consumer = $1", INBOX)


async def throughput(conn: asyncpg.Connection, expected: int, timeout_s: float = 600) -> float:
    """Events/s from the start of the first applied batch to the start of the last one.

    Every inbox row carries its transaction's start time, so the figure comes from the database, not from
    polling (a poll every 0.5 s only waits for the end): events in all batches but the last, over the time
    between the first and the last batch. Group join and start-up are not counted.
    """
    deadline = time.monotonic() + timeout_s
    while await inbox_count(conn) < expected:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the worker applied {await inbox_count(conn)} of {expected} events")
        await asyncio.sleep(0.5)
    first, last, in_last = await conn.fetchrow(
        """
        WITH applied AS (SELECT processed_at FROM loyalty.processed_events WHERE consumer = $1)
        SELECT min(processed_at), max(processed_at),
               (SELECT count(*) FROM applied WHERE processed_at = (SELECT max(processed_at) FROM applied))
        FROM applied
        """,
        INBOX,
    )
    return (expected - in_last) / (last - first).total_seconds()


async def latencies(
    producer: AIOKafkaProducer, conn: asyncpg.Connection, rate: int, seconds: int
) -> tuple[list[float], int]:
    """Send `rate` events/s for `seconds`, each stamped as it is sent; return ms to commit per event."""
    sent: dict[uuid.UUID, float] = {}
    done: list[float] = []
    sending = True

    async def watch() -> None:
        give_up = float("inf")
        while (sending or sent) and time.time() < give_up:
            rows = await conn.fetch(
                "SELECT event_id FROM loyalty.processed_events WHERE consumer = $1 AND event_id = ANY($2::uuid[])",
                INBOX,
                list(sent),
            )
            seen = time.time()
            for row in rows:
                done.append((seen - sent.pop(row["event_id"])) * 1000)
            if not sending and give_up == float("inf"):
                give_up = seen + 60
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    tick, per_tick = 0.02, max(2, rate // 50) // 2 * 2  # placed + paid pairs every 20 ms
    started = time.time()
    while time.time() - started < seconds:
        events = order_events("bench-latency", per_tick // 2, at=datetime.now(UTC))
        for event in events:
            sent[event.event_id] = event.occurred_at.timestamp()
        await produce(producer, events)
        next_tick = started + tick * (1 + int((time.time() - started) / tick))
        await asyncio.sleep(max(0.0, next_tick - time.time()))
    sending = False
    await watcher
    return done, len(sent)


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) >= 2 else values[0]


async def main(orders: int, rate: int, seconds: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-loyalty-"))
    broker, postgres = EmbeddedBroker(free_port(), workdir / "broker.log"), EmbeddedPostgres(workdir / "pg")
    broker.start()
    database_url = await asyncio.to_thread(postgres.start)
    await create_topics(broker.bootstrap_servers, [*CONTRACT.topics_to_create(), ("bench.raw", 4, {})])
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all", linger_ms=5)
    await producer.start()
    worker = None
    conn = await asyncpg.connect(database_url)
    try:
        backlog = order_events("bench-backlog", orders)
        await produce(producer, backlog)
        print(f"backlog: {len(backlog):,} events (order.placed + order.paid for {orders:,} orders)")

        raw_rate = await raw_consume_produce(broker.bootstrap_servers, producer, len(backlog))
        print(f"raw baseline, aiokafka consume -> produce -> commit: {raw_rate:,.0f} events/s")
        store_rate = await raw_consume_store(broker.bootstrap_servers, database_url, len(backlog))
        print(f"raw consume -> decode -> insert one row per event -> commit: {store_rate:,.0f} events/s")

        worker = Worker(broker.bootstrap_servers, database_url, workdir)
        await worker.ready()
        rate_worker = await throughput(conn, len(backlog))
        entries = await conn.fetchval(
            "SELECT count(*) FROM loyalty.ledger_entries WHERE merchant_id = 'bench-backlog' AND bucket = 'pending'"
        )
        assert entries == orders, f"{entries} pending entries for {orders} paid orders"
        print(f"loyalty worker: {rate_worker:,.0f} events/s ({rate_worker / raw_rate:.2f} of raw)")

        lat, lost = await latencies(producer, conn, rate, seconds)
        assert not lost, f"{lost} events were not applied within a minute"
        p50, p99 = percentile(lat, 50), percentile(lat, 99)
        print(f"latency at {rate:,} events/s for {seconds} s ({len(lat):,} events): p50 {p50:.0f} ms, p99 {p99:.0f} ms")
        rss = worker.peak_rss_mb()
        print(f"worker peak RSS: {rss:.0f} MB")
    finally:
        await conn.close()
        await producer.stop()
        if worker:
            worker.stop()
        broker.stop()
        await asyncio.to_thread(postgres.stop)
    print(
        f"RESULT loyalty events_per_s={rate_worker:.0f} p99_ms={p99:.0f} rss_mb={rss:.0f} "
        f"ratio_to_raw={rate_worker / raw_rate:.2f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000, help="orders in the backlog (two events each)")
    parser.add_argument("--rate", type=int, default=1_000, help="events/s in the latency phase")
    parser.add_argument("--seconds", type=int, default=15, help="length of the latency phase")
    args = parser.parse_args()
    asyncio.run(main(args.orders, args.rate, args.seconds))
