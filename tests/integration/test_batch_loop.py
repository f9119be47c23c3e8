"""The aiokafka consumer engine on the real broker: offsets follow applied batches, a bug commits nothing."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from services.common.batch_loop import BatchLoop
from services.common.kafka import create_topics

pytestmark = pytest.mark.integration


class Recorder:
    """Stands in for a BatchConsumer: records what it was handed (or fails like a bug would)."""

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[tuple[int, int]]] = []
        self.fail = fail
        self.highwater = None
        self.assigned: set[tuple[str, int]] = set()

    async def process_batch(self, messages) -> None:
        if self.fail:
            raise RuntimeError("a bug in a handler")
        self.batches.append([(m.partition, m.offset) for m in messages])

    def refresh_lag(self, assigned: set[tuple[str, int]]) -> None:
        self.assigned = assigned


async def committed(infra, group: str, topic: str) -> dict[int, int | None]:
    reader = AIOKafkaConsumer(bootstrap_servers=infra.kafka, group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        return {p: await reader.committed(TopicPartition(topic, p)) for p in range(2)}
    finally:
        await reader.stop()


async def run_until(loop: BatchLoop, done, timeout_s: float = 30) -> None:
    task = asyncio.create_task(loop.run())
    try:
        for _ in range(int(timeout_s / 0.05)):
            if done() or task.done():
                break
            await asyncio.sleep(0.05)
        assert done(), "the loop did not get there in time"
    finally:
        loop.stop()
        await asyncio.gather(task, return_exceptions=True)  # a crashed batch re-raises after `crash`


async def test_offsets_are_committed_after_each_applied_batch(infra, settings, producer) -> None:
    topic, group = f"loop-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    await create_topics(infra.kafka, [(topic, 2, {})])
    for n in range(30):
        await producer.send_and_wait(topic, b"x", partition=n % 2)
    recorder = Recorder()
    loop = BatchLoop(settings, group, (topic,), recorder)  # type: ignore[arg-type]
    await loop.start()
    await run_until(loop, lambda: sum(len(b) for b in recorder.batches) >= 30)
    handed = sorted(m for b in recorder.batches for m in b)
    assert handed == sorted((n % 2, n // 2) for n in range(30))  # each message once, in partition order
    assert await committed(infra, group, topic) == {0: 15, 1: 15}


async def test_a_failing_batch_crashes_without_committing(infra, settings, producer) -> None:
    topic, group = f"loop-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    await create_topics(infra.kafka, [(topic, 2, {})])
    await producer.send_and_wait(topic, b"x", partition=0)
    crashes: list[BaseException] = []
    loop = BatchLoop(settings, group, (topic,), Recorder(fail=True), crash=crashes.append)  # type: ignore[arg-type]
    await loop.start()
    await run_until(loop, lambda: bool(crashes))
    assert isinstance(crashes[0], RuntimeError)
    assert (await committed(infra, group, topic))[0] is None  # the process would exit here: nothing is acked
