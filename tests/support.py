"""Small helpers shared by integration and e2e tests."""

from __future__ import annotations

import asyncio
import copy
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.structs import TopicPartition

from services.common.contract import load_contract


def example_event(event_type: str, merchant_id: str | None = None, **data_overrides: Any) -> dict[str, Any]:
    """The contract's first example of a type with a fresh event_id (and merchant_id, when given)."""
    spec = next(s for s in load_contract().event_types() if s.type == event_type)
    event = copy.deepcopy(spec.examples[0])
    event["event_id"] = str(uuid.uuid4())
    event["data"].update(data_overrides)
    if merchant_id is None:
        event.pop("merchant_id", None)
    else:
        event["merchant_id"] = merchant_id
    return event


async def consume_until(
    kafka: str, topic: str, predicate: Callable[[ConsumerRecord], bool], *, count: int = 1, timeout_s: float = 30.0
) -> list[ConsumerRecord]:
    """Read a topic from the beginning (no group) until `count` records match or the time is up."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        found: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout_s
        while len(found) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                found.extend(r for r in records if predicate(r))
        return found
    finally:
        await consumer.stop()


async def eventually(check: Callable[[], Any], *, timeout_s: float = 30.0, interval_s: float = 0.2) -> Any:
    """Poll an async or sync check until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s}s; last value: {last!r}")
