"""What the kernel's batch path costs per event, against raw asyncpg in the same run.

Runs the loyalty consumer's `BatchConsumer.process_batch` on order.placed + order.paid pairs (contract
validation, inbox dedup, loading and saving the customers' accounts and orders, the pending ledger entry,
outbox staging; one transaction per batch) on real PostgreSQL, with the embedded broker for the producer it
holds, and compares with a raw `executemany` of the same number of rows per transaction. Kafka
consumption is not part of it: this isolates the database side of a micro-batch.

    make bench-kernel            # or: python -m bench.kernel_batch --events 20000 --batch 500

Seen on the 2-core dev machine (20,000 events, batches of 500): ~8,400 events/s, p99 ~110 ms per batch.
Where a batch's time goes (py-spy): the loyalty rules ~1/3, saving the book (set-based inserts and upserts)
~1/4, contract validation at the edge ~15%, the rest the inbox, emitted envelopes, outbox insert and commit.
`make bench-loyalty` runs the same path in a real worker, adding consumption and the outbox relay.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer

from bench.loyalty import order_events
from services.common.consumer import BatchConsumer, RawMessage
from services.common.contract import load_contract
from services.common.db import create_pool
from services.common.metrics import KernelMetrics, new_registry
from services.common.migrations import apply_migrations, migrations_for
from services.loyalty.bootstrap import SPEC as LOYALTY
from services.loyalty.entrypoints.consumers import subscriptions
from services.platform.infra import EmbeddedBroker, EmbeddedPostgres, free_port


def order_messages(orders: int, merchant_id: str) -> list[RawMessage]:
    """order.placed + order.paid per order, as the worker would read them from shop.orders."""
    contract = load_contract()
    return [
        RawMessage("shop.orders", i % 4, i, contract.partition_key(event), event.to_bytes())
        for i, event in enumerate(order_events(merchant_id, orders))
    ]


async def raw_baseline(pool, count: int, batch: int) -> float:
    await pool.execute("CREATE TABLE IF NOT EXISTS bench_raw (id uuid PRIMARY KEY, customer text, points int)")
    rows = [(uuid.uuid4(), f"c-{i % 5000}", 10) for i in range(count)]
    started = time.perf_counter()
    for i in range(0, count, batch):
        async with pool.acquire() as conn, conn.transaction():
            await conn.executemany("INSERT INTO bench_raw VALUES ($1, $2, $3)", rows[i : i + batch])
    return count / (time.perf_counter() - started)


async def main(events: int, batch: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-kernel-"))
    broker, postgres = EmbeddedBroker(free_port()), EmbeddedPostgres(workdir / "pg")
    broker.start()
    database_url = await asyncio.to_thread(postgres.start)
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all")
    await producer.start()
    try:
        pool = await create_pool(database_url, "loyalty")
        await apply_migrations(pool, "loyalty", migrations_for(LOYALTY.migrations))
        messages = order_messages(events // 2, "bench-shop")
        consumer = BatchConsumer(
            service="loyalty",
            subscription=subscriptions()[0],
            pool=pool,
            producer=producer,
            contract=load_contract(),
            metrics=KernelMetrics.create(new_registry()),
        )
        latencies = []
        started = time.perf_counter()
        for i in range(0, events, batch):
            t0 = time.perf_counter()
            await consumer.process_batch(messages[i : i + batch])
            latencies.append((time.perf_counter() - t0) * 1000)
        kernel_rate = events / (time.perf_counter() - started)
        raw_rate = await raw_baseline(pool, events, batch)
        entries = await pool.fetchval("SELECT count(*) FROM ledger_entries WHERE bucket = 'pending'")
        assert entries == events // 2, f"{entries} pending ledger entries for {events // 2} paid orders"
        await pool.close()
    finally:
        await producer.stop()
        broker.stop()
        await asyncio.to_thread(postgres.stop)
    p50 = statistics.median(latencies)
    p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) >= 2 else latencies[0]
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"kernel batch path: {kernel_rate:,.0f} events/s, batch of {batch}: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(f"raw asyncpg executemany baseline: {raw_rate:,.0f} rows/s")
    print(
        f"RESULT kernel events_per_s={kernel_rate:.0f} p99_ms={p99:.1f} rss_mb={rss_mb:.0f} "
        f"ratio_to_raw={kernel_rate / raw_rate:.2f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.batch))
