"""One real tracking worker (`retention serve tracking`) on the embedded broker and PostgreSQL, against raw aiokafka
consume → produce → commit on the same backlog, in the same run.

    make bench-tracking        # or: python -m bench.tracking --parcels 5000 --late 300

1. Backlog: per parcel `shipment.created` and five carrier scans (label, two transit scans, out for delivery,
   delivered), pre-produced on shop.shipments; the raw baseline reads it first.
2. Throughput: the worker starts against the backlog (its own group); events/s comes from its inbox (the
   transaction start of its first and last batch), so group join and start-up are not counted.
3. Delay detection: parcels whose promised day has already passed by the time they arrive (announced with
   event times of three days ago). Their check is due the moment the worker stores them; the latency runs
   from that batch's transaction to the scheduled check that reports the delay (`problem_log.at`), i.e. the
   durable schedule's pickup, which a promise passing at midnight goes through the same way.
4. Memory: the worker's peak RSS (VmHWM).

The last line reads `RESULT tracking events_per_s=<n> p99_ms=<n> rss_mb=<n> ratio_to_raw=<r>`.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta

import asyncpg

from bench.common import Worker, bench_stack, percentile, produce, raw_consume_produce, throughput
from services.common.envelope import Envelope
from tests.tracking_events import created, scan

INBOX = "tracking.shipments"
CARRIERS = ("dhl", "dpd", "gls", "hermes", "ups")


def parcel_events(merchant_id: str, parcels: int, start: datetime) -> list[Envelope]:
    events: list[Envelope] = []
    for n in range(parcels):
        carrier, order, parcel = CARRIERS[n % 5], f"o{n}", f"s{n}"
        t = start + timedelta(seconds=n)
        promised = (t + timedelta(days=3)).date()
        events += [
            created(parcel, order, t, carrier=carrier, promised=promised, customer=f"c{n % 5000}"),
            scan(parcel, order, "label_created", t + timedelta(minutes=5), carrier=carrier),
            scan(parcel, order, "in_transit", t + timedelta(hours=4), carrier=carrier),
            scan(parcel, order, "in_transit", t + timedelta(hours=14), carrier=carrier),
            scan(parcel, order, "out_for_delivery", t + timedelta(hours=30), carrier=carrier),
            scan(parcel, order, "delivered", t + timedelta(hours=34), carrier=carrier),
        ]
    return [e.model_copy(update={"merchant_id": merchant_id}) for e in events]


def late_parcels(merchant_id: str, parcels: int, now: datetime) -> list[Envelope]:
    """Announced three days ago with yesterday's promise: late by now, not when they were announced."""
    then = now - timedelta(days=3)
    promised = (now - timedelta(days=1)).date()
    return [
        created(f"late{n}", f"late-o{n}", then, promised=promised, customer=f"c{n}").model_copy(
            update={"merchant_id": merchant_id}
        )
        for n in range(parcels)
    ]


async def detection_latencies(conn: asyncpg.Connection, merchant_id: str, parcels: int) -> list[float]:
    deadline = time.monotonic() + 120
    query = "SELECT count(*) FROM tracking.problem_log WHERE merchant_id = $1 AND reason = 'promise_passed' AND raised"
    while await conn.fetchval(query, merchant_id) < parcels:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{await conn.fetchval(query, merchant_id)} of {parcels} delays detected in 2 minutes")
        await asyncio.sleep(0.2)
    rows = await conn.fetch(
        """
        SELECT extract(epoch FROM p.at - s.created_at) * 1000 AS ms
        FROM tracking.problem_log p JOIN tracking.shipments s USING (merchant_id, shipment_id)
        WHERE p.merchant_id = $1 AND p.reason = 'promise_passed' AND p.raised
        """,
        merchant_id,
    )
    return [float(r["ms"]) for r in rows]


async def main(parcels: int, late: int) -> None:
    async with bench_stack("tracking") as stack:
        backlog = parcel_events("bench-backlog", parcels, datetime.now(UTC) - timedelta(days=2))
        await produce(stack.producer, backlog)
        print(f"backlog: {len(backlog):,} events ({parcels:,} parcels: announcement + 5 scans each)")
        raw_rate = await raw_consume_produce(stack.kafka, stack.producer, len(backlog), "shop.shipments")
        print(f"raw baseline, aiokafka consume -> produce -> commit: {raw_rate:,.0f} events/s")

        with Worker("tracking", stack.kafka, stack.database_url, stack.workdir) as worker:
            await worker.ready()
            rate = await throughput(stack.conn, "tracking", INBOX, len(backlog))
            delivered = await stack.conn.fetchval(
                "SELECT count(*) FROM tracking.shipments WHERE merchant_id = 'bench-backlog' AND status = 'delivered'"
            )
            assert delivered == parcels, f"{delivered} of {parcels} parcels delivered"
            print(f"tracking worker: {rate:,.0f} events/s ({rate / raw_rate:.2f} of raw)")

            await produce(stack.producer, late_parcels("bench-late", late, datetime.now(UTC)))
            latencies = await detection_latencies(stack.conn, "bench-late", late)
            p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
            print(f"delay detection for {late} parcels past their promise: p50 {p50:.0f} ms, p99 {p99:.0f} ms")
            rss = worker.peak_rss_mb()
            print(f"worker peak RSS: {rss:.0f} MB")
    ratio = rate / raw_rate
    print(f"RESULT tracking events_per_s={rate:.0f} p99_ms={p99:.0f} rss_mb={rss:.0f} ratio_to_raw={ratio:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parcels", type=int, default=5_000, help="parcels in the backlog (six events each)")
    parser.add_argument("--late", type=int, default=300, help="parcels whose promise passed")
    args = parser.parse_args()
    asyncio.run(main(args.parcels, args.late))
