"""The kernel's micro-batch consumer on real PostgreSQL and a real Kafka-protocol broker."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from services.common.consumer import BatchConsumer, RawMessage, Subscription
from services.common.contract import load_contract
from services.common.envelope import Envelope, derived_event_id, new_envelope
from services.common.errors import InvalidMessage
from services.common.migrations import apply_migrations, migrations_for
from services.common.outbox import OutboxRelay, write_outbox
from tests.support import consume_until, example_event


@pytest.fixture
async def loyalty_pool(schema_pool):
    """Kernel tables plus one table of effects; the handler below stands in for a service's rules."""
    schema, pool = schema_pool
    await apply_migrations(pool, schema, migrations_for(None))
    await pool.execute("CREATE TABLE effects (event_id uuid PRIMARY KEY, customer_id text NOT NULL, points int)")
    return pool


async def handle_orders(conn: asyncpg.Connection, events: list[Envelope]) -> list[Envelope]:
    """One effect row per order.placed and an emitted event carrying the running total of the customer."""
    emitted = []
    for event in events:
        points = event.data["total_minor"] // 100
        await conn.execute("INSERT INTO effects VALUES ($1, $2, $3)", event.event_id, event.data["customer_id"], points)
        total = await conn.fetchval("SELECT sum(points) FROM effects WHERE customer_id = $1", event.data["customer_id"])
        emitted.append(
            new_envelope(
                "loyalty.points_earned",
                event.merchant_id,
                {
                    "customer_id": event.data["customer_id"],
                    "order_id": event.data["order_id"],
                    "points": points,
                    "balance": total,
                    "reason_code": "purchase",
                    "ledger_entry_id": str(derived_event_id(event.event_id, "entry")),
                    "source_event_id": str(event.event_id),
                },
                occurred_at=event.occurred_at,
                event_id=derived_event_id(event.event_id, "earned"),
            )
        )
    return emitted


def raw(event: dict | bytes, offset: int = 0, topic: str = "shop.orders") -> RawMessage:
    value = event if isinstance(event, bytes) else json.dumps(event).encode()
    return RawMessage(topic=topic, partition=0, offset=offset, key=b"k", value=value)


def consumer(pool, producer, metrics, handle=handle_orders) -> BatchConsumer:
    return BatchConsumer(
        service="loyalty",
        subscription=Subscription("loyalty.orders", ("shop.orders",), handle),
        pool=pool,
        producer=producer,
        contract=load_contract(),
        metrics=metrics,
    )


async def test_applies_once_and_stages_outbox_in_the_same_transaction(
    loyalty_pool: asyncpg.Pool,
    producer,
    kernel_metrics,
    merchant_id: str,
) -> None:
    order = example_event("order.placed", merchant_id)
    batch = consumer(loyalty_pool, producer, kernel_metrics)

    first = await batch.process_batch([raw(order, 0)])
    again = await batch.process_batch([raw(order, 0), raw(order, 1)])

    assert len(first.applied) == 1 and again.applied == [] and again.duplicates == 2
    entries = await loyalty_pool.fetch("SELECT * FROM effects")
    assert len(entries) == 1 and entries[0]["points"] > 0
    staged = await loyalty_pool.fetch("SELECT payload FROM outbox")
    assert len(staged) == 1
    emitted = Envelope.from_bytes(staged[0]["payload"])
    assert emitted.type == "loyalty.points_earned" and emitted.data["balance"] == entries[0]["points"]
    assert kernel_metrics.duplicates.labels("loyalty", "shop.orders")._value.get() == 2


async def test_same_event_twice_in_one_batch_applies_once(
    loyalty_pool: asyncpg.Pool,
    producer,
    kernel_metrics,
    merchant_id: str,
) -> None:
    order = example_event("order.placed", merchant_id)
    outcome = await consumer(loyalty_pool, producer, kernel_metrics).process_batch([raw(order, 0), raw(order, 1)])
    assert len(outcome.applied) == 1 and outcome.duplicates == 1
    assert await loyalty_pool.fetchval("SELECT count(*) FROM effects") == 1


async def test_events_carry_running_totals_across_batches_and_redeliveries(
    loyalty_pool: asyncpg.Pool,
    producer,
    kernel_metrics,
    merchant_id: str,
) -> None:
    orders = [example_event("order.placed", merchant_id, customer_id="c-same", order_id=f"o-{i}") for i in range(3)]
    batch = consumer(loyalty_pool, producer, kernel_metrics)
    await batch.process_batch([raw(o, i) for i, o in enumerate(orders[:2])])
    await batch.process_batch([raw(orders[2], 2), raw(orders[0], 3)])  # one new, one redelivered
    per_order = await loyalty_pool.fetchval("SELECT min(points) FROM effects")
    payloads = [
        Envelope.from_bytes(r["payload"]) for r in await loyalty_pool.fetch("SELECT payload FROM outbox ORDER BY id")
    ]
    assert [p.data["balance"] for p in payloads] == [per_order, 2 * per_order, 3 * per_order]


async def test_invalid_messages_go_to_the_dlq_with_a_reason_and_the_rest_applies(
    loyalty_pool: asyncpg.Pool,
    producer,
    kernel_metrics,
    infra,
    merchant_id: str,
) -> None:
    good = example_event("order.placed", merchant_id)
    bad = example_event("order.placed", merchant_id)
    bad["data"]["lines"][0]["quantity"] = 0
    nul = example_event("order.placed", merchant_id)  # PostgreSQL cannot store it: retrying would loop forever
    nul["data"]["lines"][0]["name"] = "Espresso\u0000Bohnen"
    marker = uuid.uuid4().hex.encode()
    messages = [
        raw(good, 0),
        RawMessage("shop.orders", 0, 1, marker, json.dumps(bad).encode()),
        RawMessage("shop.orders", 0, 2, marker, b"{not json"),
        RawMessage("shop.orders", 0, 3, marker, json.dumps(nul).encode()),
    ]
    outcome = await consumer(loyalty_pool, producer, kernel_metrics).process_batch(messages)

    assert len(outcome.applied) == 1 and len(outcome.dead_lettered) == 3
    records = await consume_until(infra.kafka, "shop.orders.dlq", lambda r: r.key == marker, count=3)
    assert len(records) == 3
    headers = [dict(r.headers) for r in records]
    reasons = sorted(h["x-dlq-reason"].decode() for h in headers)
    assert any("data.lines[0].quantity" in reason for reason in reasons), reasons
    assert any("data.lines[0].name" in reason and "NUL" in reason for reason in reasons), reasons
    assert {h["x-original-topic"] for h in headers} == {b"shop.orders"}
    assert {h["x-original-offset"] for h in headers} == {b"1", b"2", b"3"}


async def test_event_on_the_wrong_topic_is_dead_lettered(
    loyalty_pool: asyncpg.Pool,
    producer,
    kernel_metrics,
    merchant_id: str,
) -> None:
    review = example_event("review.submitted", merchant_id)
    outcome = await consumer(loyalty_pool, producer, kernel_metrics).process_batch([raw(review, 0)])
    assert outcome.applied == [] and "belongs on shop.reviews" in outcome.dead_lettered[0][1]


async def test_handler_refusal_dead_letters_one_event_and_applies_the_others(
    loyalty_pool: asyncpg.Pool,
    producer,
    kernel_metrics,
    merchant_id: str,
) -> None:
    refused = example_event("order.placed", merchant_id)
    fine = example_event("order.placed", merchant_id, customer_id="c-fine")

    async def picky(conn, events):
        for event in events:
            if str(event.event_id) == refused["event_id"]:
                raise InvalidMessage("unknown customer", event_id=event.event_id)
        return await handle_orders(conn, events)

    outcome = await consumer(loyalty_pool, producer, kernel_metrics, picky).process_batch(
        [raw(refused, 0), raw(fine, 1)]
    )
    assert [str(e.event_id) for e in outcome.applied] == [fine["event_id"]]
    assert outcome.dead_lettered[0][1] == "unknown customer"
    # The refused event's inbox row was rolled back with its transaction: a fixed handler may apply it later.
    assert await loyalty_pool.fetchval("SELECT count(*) FROM processed_events") == 1


async def test_outbox_relay_publishes_and_removes(
    loyalty_pool: asyncpg.Pool,
    producer,
    kernel_metrics,
    infra,
    merchant_id: str,
) -> None:
    await consumer(loyalty_pool, producer, kernel_metrics).process_batch(
        [raw(example_event("order.placed", merchant_id))]
    )
    relay = OutboxRelay(service="loyalty", pool=loyalty_pool, producer=producer, metrics=kernel_metrics)
    assert await relay.relay_once() == 1
    assert await relay.relay_once() == 0
    records = await consume_until(
        infra.kafka, "loyalty.events", lambda r: json.loads(r.value)["merchant_id"] == merchant_id
    )
    assert records and records[0].key.startswith(merchant_id.encode() + b":")


async def test_outbox_relay_keeps_each_keys_order_and_partition_and_counts_by_topic(
    loyalty_pool: asyncpg.Pool, kernel_metrics, infra, merchant_id: str
) -> None:
    """Staged events of three customers on two topics, relayed ten at a time in small record batches: each
    customer's records arrive in staged order, on the partition any Kafka client picks for their key."""
    contract = load_contract()
    staged = []
    for n in range(30):
        customer = f"c-{n % 3}"
        if n % 2:
            event = example_event("loyalty.points_earned", merchant_id, customer_id=customer, points=n)
        else:
            event = example_event("notification.requested", merchant_id, customer_id=customer, trigger_id=f"r-{n}")
        staged.append(Envelope.model_validate(event))
    async with loyalty_pool.acquire() as conn:
        await write_outbox(conn, contract, staged)
    # Record batches of 600 bytes hold one of these records: the relay fills, sends and starts new ones.
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka, acks="all", max_batch_size=600)
    await producer.start()
    try:
        relay = OutboxRelay(
            service="loyalty", pool=loyalty_pool, producer=producer, metrics=kernel_metrics, batch_size=10
        )
        assert [await relay.relay_once() for _ in range(4)] == [10, 10, 10, 0]
    finally:
        await producer.stop()
    assert await loyalty_pool.fetchval("SELECT count(*) FROM outbox") == 0

    for topic in ("loyalty.events", "notifications.requests"):
        expected = [e for e in staged if contract.topic_for(e.type).name == topic]
        records = await consume_until(
            infra.kafka, topic, lambda r: json.loads(r.value)["merchant_id"] == merchant_id, count=len(expected)
        )
        assert len(records) == len(expected)
        partitions = contract.topic_for(expected[0].type).partitions
        for customer in ("c-0", "c-1", "c-2"):
            key = f"{merchant_id}:{customer}".encode()
            mine = [r for r in records if r.key == key]
            assert [json.loads(r.value)["event_id"] for r in mine] == [
                str(e.event_id) for e in expected if e.data["customer_id"] == customer
            ]
            assert {r.partition for r in mine} == {(aiokafka_murmur2(key) & 0x7FFFFFFF) % partitions}
        counted = kernel_metrics.outbox_relayed.labels("loyalty", topic)._value.get()
        assert counted == len(expected)


async def test_a_failed_publish_leaves_the_claimed_rows_for_the_next_attempt(
    loyalty_pool: asyncpg.Pool, kernel_metrics, merchant_id: str
) -> None:
    class BrokerDown:
        async def partitions_for(self, topic: str) -> set[int]:
            raise KafkaConnectionError("broker unreachable")

    async with loyalty_pool.acquire() as conn:
        staged = Envelope.model_validate(example_event("loyalty.points_earned", merchant_id))
        await write_outbox(conn, load_contract(), [staged])
    relay = OutboxRelay(service="loyalty", pool=loyalty_pool, producer=BrokerDown(), metrics=kernel_metrics)
    with pytest.raises(KafkaConnectionError):
        await relay.relay_once()
    assert await loyalty_pool.fetchval("SELECT count(*) FROM outbox") == 1
