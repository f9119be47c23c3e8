"""Loyalty worker processes on the real broker and PostgreSQL: one worker, two in one consumer group, and
one killed with SIGKILL mid-stream all end with the balances of the rules applied once, undisturbed.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from services.common.contract import load_contract
from services.common.envelope import Envelope
from tests.harness import Infra
from tests.loyalty_model import (
    LoyaltyModel,
    order_cancelled,
    order_delivered,
    order_paid,
    order_placed,
    order_refunded,
    order_returned,
    review,
    shipment_delayed,
)
from tests.support import eventually
from tests.workers import ServiceProcess as Worker

REPO = Path(__file__).resolve().parents[2]
CONTRACT = load_contract()
Balances = dict[str, tuple[int, int, int, int]]


def stream(seed: int = 5, customers: int = 120) -> list[Envelope]:
    """A deterministic day of a shop: orders and payments, deliveries, returns, refunds, reviews, delays."""
    rng = random.Random(seed)
    now = datetime.now(UTC) - timedelta(hours=2)  # recent: no confirmation or expiry falls due during the test
    events: list[Envelope] = []
    for n in range(customers):
        customer = f"c{n:04d}"
        for k in range(rng.randint(1, 3)):
            order = f"{customer}-o{k}"
            lines = [
                ("l1", rng.randint(1, 3), rng.randint(500, 9000), "shoes"),
                ("l2", 1, rng.randint(300, 4000), "care"),
            ]
            at = now + timedelta(seconds=rng.randint(0, 3000))
            events += [order_placed(customer, order, at, lines), order_paid(customer, order, at + timedelta(seconds=5))]
            roll = rng.random()
            if roll < 0.15:
                events.append(order_cancelled(customer, order, at + timedelta(seconds=30)))
            elif roll < 0.6:
                events.append(order_delivered(customer, order, at + timedelta(minutes=40)))
            if 0.3 < roll < 0.5:
                events.append(order_returned(customer, order, at + timedelta(minutes=50), {"l1": 1}, f"r-{order}"))
            if 0.45 < roll < 0.55:
                events.append(order_refunded(customer, order, at + timedelta(minutes=55), {"l2": 1}, f"f-{order}"))
        if rng.random() < 0.3:
            events.append(review(customer, f"rv-{customer}", now + timedelta(minutes=30), photo=rng.random() < 0.5))
        if rng.random() < 0.2:
            late = shipment_delayed(customer, f"{customer}-o0", f"s-{customer}", now + timedelta(minutes=20))
            events += [late, late.model_copy(update={"event_id": uuid.uuid4()})]
    return events


def expected(events: list[Envelope]) -> Balances:
    model = LoyaltyModel()
    model.deliver(events)
    return model.balances()


@pytest.fixture
async def workers(infra: Infra, topics: None, tmp_path: Path) -> AsyncIterator[list[Worker]]:
    started: list[Worker] = []
    try:
        yield started
    finally:
        for worker in started:
            worker.stop()


async def publish(infra: Infra, merchant_id: str, events: list[Envelope]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = []
        for event in events:
            # Event ids are global (the inbox is keyed by them): each merchant's copy of the day gets its own.
            mine = event.model_copy(
                update={"merchant_id": merchant_id, "event_id": uuid.uuid5(event.event_id, merchant_id)}
            )
            futures.append(
                await producer.send(
                    CONTRACT.topic_for(mine.type).name, mine.to_bytes(), key=CONTRACT.partition_key(mine)
                )
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def balances(infra: Infra, merchant_id: str) -> Balances:
    conn = await asyncpg.connect(infra.database_url)
    try:
        rows = await conn.fetch(
            "SELECT customer_id, available, pending, lifetime_earned, debt"
            " FROM loyalty.accounts WHERE merchant_id = $1",
            merchant_id,
        )
        sums = await conn.fetchval(
            """
            SELECT count(*) FROM loyalty.accounts a LEFT JOIN (
                SELECT customer_id, sum(points) FILTER (WHERE bucket = 'available') AS av,
                       sum(points) FILTER (WHERE bucket = 'pending') AS pe
                FROM loyalty.ledger_entries WHERE merchant_id = $1 GROUP BY 1) l USING (customer_id)
            WHERE a.merchant_id = $1 AND (a.available <> coalesce(l.av, 0) OR a.pending <> coalesce(l.pe, 0))
            """,
            merchant_id,
        )
    finally:
        await conn.close()
    assert sums == 0, "an account differs from the sum of its ledger entries"
    return {r["customer_id"]: (r["available"], r["pending"], r["lifetime_earned"], r["debt"]) for r in rows}


async def group_progress(infra: Infra) -> dict[str, tuple[int | None, int]]:
    """Committed offset and end offset per partition of the loyalty group: where a stalled group stands."""
    group = "retention-loyalty.loyalty.orders"  # the aiokafka engine's group for loyalty's one subscription
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()  # loads the metadata partitions_for_topic reads
        tps = [
            TopicPartition(topic, p)
            for topic in ("shop.orders", "shop.customers", "shop.reviews", "tracking.events")
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        ends = await consumer.end_offsets(tps)
        return {f"{tp.topic}/{tp.partition}": (await consumer.committed(tp), ends[tp]) for tp in tps}
    finally:
        await consumer.stop()


async def settle(infra: Infra, merchant_id: str, want: Balances, workers: list[Worker]) -> None:
    async def done() -> bool:
        return await balances(infra, merchant_id) == want

    try:
        await eventually(done, timeout_s=120, interval_s=1)
    except AssertionError:
        got = await balances(infra, merchant_id)
        diff = {c: (got.get(c), v) for c, v in want.items() if got.get(c) != v}
        lines = []
        for worker in workers:
            lines += [f"{worker.log_path.name}: {line}" for line in await worker.metrics("retention_consumer_lag{")]
        raise AssertionError(
            f"{len(diff)} customers differ, e.g. {list(diff.items())[:5]}; "
            f"group (committed, end): {await group_progress(infra)}; lag: {lines}"
        ) from None
    await asyncio.sleep(2)  # nothing arrives late and applies twice
    assert await balances(infra, merchant_id) == want


async def test_the_faust_engine_applies_a_stream_like_the_default_one(
    infra: Infra, workers: list[Worker], tmp_path: Path
) -> None:
    """The first consumer engine stays selectable (RETENTION_CONSUMER_ENGINE=faust): same rules, same balances.
    It runs alone: faust's assignor and aiokafka's cannot share one consumer group."""
    events = stream(seed=11, customers=40)
    workers.append(Worker(infra, tmp_path, "faust", engine="faust"))
    await workers[0].ready()
    await publish(infra, "m-faust", events)
    await settle(infra, "m-faust", expected(events), workers)
    workers[0].stop()  # leaves the group empty for the next test's aiokafka workers


async def test_one_worker_two_workers_and_a_killed_worker_end_with_the_same_balances(
    infra: Infra, workers: list[Worker], tmp_path: Path
) -> None:
    events = stream()
    want = expected(events)
    assert len(events) > 500
    assert sum(v[0] > 0 for v in want.values()) > 10 and sum(v[1] > 0 for v in want.values()) > 50

    workers.append(Worker(infra, tmp_path, "one"))
    await workers[0].ready()
    await publish(infra, "m-one", events)
    await settle(infra, "m-one", want, workers)

    workers.append(Worker(infra, tmp_path, "two"))  # a second worker joins the group: partitions split
    await workers[1].ready()
    await publish(infra, "m-two", events)
    await settle(infra, "m-two", want, workers)

    victim = workers[0]
    await publish(infra, "m-killed", events[: len(events) // 2])
    victim.kill()  # SIGKILL while batches are in flight: no clean shutdown, no commit of offsets
    await publish(infra, "m-killed", events[len(events) // 2 :])
    workers.append(Worker(infra, tmp_path, "restarted"))
    await workers[2].ready()
    await settle(infra, "m-killed", want, workers)
