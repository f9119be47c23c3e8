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
import time
import uuid
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaProducer

from bench.common import (
    Worker,
    bench_stack,
    percentile,
    produce,
    raw_consume_produce,
    raw_consume_store,
    throughput,
)
from services.common.envelope import Envelope
from tests.loyalty_model import order_paid, order_placed

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


async def main(orders: int, rate: int, seconds: int) -> None:
    async with bench_stack("loyalty") as stack:
        backlog = order_events("bench-backlog", orders)
        await produce(stack.producer, backlog)
        print(f"backlog: {len(backlog):,} events (order.placed + order.paid for {orders:,} orders)")

        raw_rate = await raw_consume_produce(stack.kafka, stack.producer, len(backlog), "shop.orders")
        print(f"raw baseline, aiokafka consume -> produce -> commit: {raw_rate:,.0f} events/s")
        store_rate = await raw_consume_store(stack.kafka, stack.database_url, len(backlog), "shop.orders")
        print(f"raw consume -> decode -> insert one row per event -> commit: {store_rate:,.0f} events/s")

        with Worker("loyalty", stack.kafka, stack.database_url, stack.workdir) as worker:
            await worker.ready()
            rate_worker = await throughput(stack.conn, "loyalty", INBOX, len(backlog))
            entries = await stack.conn.fetchval(
                "SELECT count(*) FROM loyalty.ledger_entries WHERE merchant_id = 'bench-backlog' AND bucket = 'pending'"
            )
            assert entries == orders, f"{entries} pending entries for {orders} paid orders"
            print(f"loyalty worker: {rate_worker:,.0f} events/s ({rate_worker / raw_rate:.2f} of raw)")

            lat, lost = await latencies(stack.producer, stack.conn, rate, seconds)
            assert not lost, f"{lost} events were not applied within a minute"
            p50, p99 = percentile(lat, 50), percentile(lat, 99)
            shape = f"{rate:,} events/s for {seconds} s ({len(lat):,} events)"
            print(f"latency at {shape}: p50 {p50:.0f} ms, p99 {p99:.0f} ms")
            rss = worker.peak_rss_mb()
            print(f"worker peak RSS: {rss:.0f} MB")
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
