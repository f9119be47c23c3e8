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
    """Stands in for a BatchConsumer: records what it was handed (or fails like a bug would).

    `gate`, when given, holds every apply until it is set, so a test can look at the loop mid-batch."""

    def __init__(self, fail: bool = False, gate: asyncio.Event | None = None) -> None:
        self.batches: list[list[tuple[int, int]]] = []
        self.fail = fail
        self.gate = gate
        self.highwater = None
        self.assigned: set[tuple[str, int]] = set()
        self.applying = 0
        self.most_applying = 0
        self.prepared_while_applying = 0

    async def prepare(self, messages):
        if self.applying:
            self.prepared_while_applying += 1
        return list(messages)

    async def apply(self, messages) -> None:
        if self.fail:
            raise RuntimeError("a bug in a handler")
        self.applying += 1
        self.most_applying = max(self.most_applying, self.applying)
        try:
            if self.gate is not None:
                await self.gate.wait()
            self.batches.append([(m.partition, m.offset) for m in messages])
        finally:
            self.applying -= 1

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
    assert handed == sorted((n % 2, n // 2) for n in range(30))  # each message once
    for partition in (0, 1):  # and each partition's messages in offset order, in one lane only
        offsets = [o for b in recorder.batches for p, o in b if p == partition]
        assert offsets == sorted(offsets)
    assert all(len({p for p, _ in b}) == 1 for b in recorder.batches), "two lanes: one partition per lane"
    assert await committed(infra, group, topic) == {0: 15, 1: 15}


async def test_lanes_apply_together_and_offsets_wait_for_every_lane(infra, settings, producer) -> None:
    """Both partitions' batches are in flight at once; nothing is committed until both are applied; the
    next fetch is read and decoded meanwhile but applied only after them."""
    topic, group = f"loop-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    await create_topics(infra.kafka, [(topic, 2, {})])
    for n in range(10):
        await producer.send_and_wait(topic, b"x", partition=n % 2)
    gate = asyncio.Event()
    recorder = Recorder(gate=gate)
    loop = BatchLoop(settings.model_copy(update={"batch_lanes": 2}), group, (topic,), recorder)  # type: ignore[arg-type]
    await loop.start()
    task = asyncio.create_task(loop.run())
    try:
        await wait_for(lambda: recorder.applying == 2)
        for n in range(10, 14):  # a second fetch arrives while the first is held
            await producer.send_and_wait(topic, b"x", partition=n % 2)
        await wait_for(lambda: recorder.prepared_while_applying >= 1)
        assert await committed(infra, group, topic) == {0: None, 1: None}
        assert recorder.batches == [] and recorder.most_applying == 2

        gate.set()
        await wait_for(lambda: sum(len(b) for b in recorder.batches) >= 14)
        await wait_for_commit(infra, group, topic, {0: 7, 1: 7})
        assert recorder.most_applying == 2  # the second fetch never overlapped the first
    finally:
        loop.stop()
        await asyncio.gather(task, return_exceptions=True)


async def wait_for(condition, timeout_s: float = 30) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


async def wait_for_commit(infra, group: str, topic: str, expected: dict[int, int], timeout_s: float = 30) -> None:
    seen: dict[int, int | None] = {}
    for _ in range(int(timeout_s / 0.2)):
        seen = await committed(infra, group, topic)
        if seen == expected:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"committed {seen}, expected {expected}")


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


async def test_with_a_backlog_every_lane_gets_its_own_batch(infra, settings, producer) -> None:
    """A plain fetch drains one partition's buffer first; each lane is fetched on its own, so with both partitions
    behind, fetches hand both lanes work and no lane's batch exceeds RETENTION_BATCH_MAX_EVENTS."""
    topic, group = f"loop-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    await create_topics(infra.kafka, [(topic, 2, {})])
    sent = [await producer.send(topic, b"x", partition=n % 2) for n in range(80)]
    await asyncio.gather(*sent)
    recorder = Recorder()
    lanes = settings.model_copy(update={"batch_lanes": 2, "batch_max_events": 5})
    loop = BatchLoop(lanes, group, (topic,), recorder)  # type: ignore[arg-type]
    await loop.start()
    await run_until(loop, lambda: sum(len(b) for b in recorder.batches) >= 80)
    assert max(len(b) for b in recorder.batches) <= 5
    assert sorted(m for b in recorder.batches for m in b) == sorted((n % 2, n // 2) for n in range(80))
    fetches_for_both = sum(
        1 for a, b in zip(recorder.batches, recorder.batches[1:], strict=False) if a[0][0] != b[0][0]
    )
    assert fetches_for_both >= 8, f"lanes took turns instead of working together: {recorder.batches}"
