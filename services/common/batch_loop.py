"""The kernel's consumer engine: an aiokafka consumer group feeding micro-batches to a `BatchConsumer`.

Why not a faust agent (the first engine, still selectable with `RETENTION_CONSUMER_ENGINE=faust`): faust hands
every message through its consumer thread, conductor and stream one by one (~66 µs each here), which made it
a third of a worker's time once the database side was batched (DESIGN §2 names this limit). Reading with
`getmany` hands over whole fetches, and the loop keeps faust's guarantees explicitly:

- offsets are committed only after `process_batch` returned, i.e. after the batch's transaction committed
  (or its poison messages were dead-lettered): at-least-once, and the inbox makes replays harmless;
- one fetch applied at a time per consumer, in fetch order, as one transaction per lane (a lane is a
  fixed set of partitions); the next fetch is only read and decoded meanwhile. A partition revoked while
  a fetch is in flight gets its commit refused; the new owner re-reads from the last committed offset and
  the inbox skips what was applied;
- a bug ends the process (`crash_process`) without committing; a cancelled batch is finished first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata, TopicPartition

from services.common.consumer import BatchConsumer, PreparedBatch, RawMessage, crash_process, run_shielded
from services.common.errors import retry_transient
from services.common.settings import Settings

log = logging.getLogger(__name__)


class BatchLoop:
    def __init__(
        self,
        settings: Settings,
        group_id: str,
        topics: tuple[str, ...],
        consumer: BatchConsumer,
        *,
        crash: Callable[[BaseException], None] = crash_process,
        lag_refresh_s: float = 5.0,
        max_events: int | None = None,
        lanes: int | None = None,
    ) -> None:
        self.settings = settings
        self.group_id = group_id
        self.topics = topics
        self.consumer = consumer
        self.crash = crash
        self.lag_refresh_s = lag_refresh_s
        #: Records per lane and fetch (`Subscription.batch_limit`); RETENTION_BATCH_MAX_EVENTS when not given.
        self.max_events = max_events or settings.batch_max_events
        #: Concurrent lane transactions (`Subscription.lane_count`); RETENTION_BATCH_LANES when not given.
        self.lanes = lanes or settings.batch_lanes
        self.kafka: AIOKafkaConsumer | None = None
        self._stopping = False
        self.assigned = asyncio.Event()

    def stop(self) -> None:
        self._stopping = True

    async def start(self) -> None:
        s = self.settings
        self.kafka = AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=s.kafka_bootstrap_servers,
            group_id=self.group_id,
            client_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",  # ListOffsets is wrong on the dev broker; the inbox makes replays safe
            max_poll_records=self.max_events,
            fetch_max_wait_ms=s.kafka_fetch_max_wait_ms,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            session_timeout_ms=int(s.kafka_session_timeout_s * 1000),
            rebalance_timeout_ms=int(s.kafka_rebalance_timeout_s * 1000),
            heartbeat_interval_ms=1000,
        )
        await self.kafka.start()
        self.consumer.highwater = self._highwater

    async def run(self) -> None:
        """Apply each fetch as `batch_lanes` concurrent transactions, and decode the next fetch meanwhile.

        Why: a batch alternates between the worker's CPU and PostgreSQL's, so one transaction at a time left
        each idle about half the time. Partitions are split into lanes by partition number, so one customer's
        events (the same key hashes to the same partition number on every topic) stay in one lane and in order;
        lanes are as independent as two workers of one group, which the handlers already have to allow. A fetch
        is applied only after the one before it committed its transactions and offsets, and offsets are never
        committed ahead of their batch.
        """
        assert self.kafka is not None, "start() first"
        kafka, last_lag = self.kafka, 0.0
        wait_ms = int(self.settings.batch_max_wait_s * 1000)
        lanes = self.lanes
        in_flight: asyncio.Future[None] | None = None
        try:
            while not self._stopping:
                fetched = await self._fetch(kafka, lanes, wait_ms)
                if kafka.assignment():
                    self.assigned.set()
                if any(fetched.values()):
                    prepared = [await self.consumer.prepare(lane) for lane in _lanes(fetched, lanes)]
                    offsets = {
                        tp: OffsetAndMetadata(batch[-1].offset + 1, "") for tp, batch in fetched.items() if batch
                    }
                    previous, in_flight = in_flight, None
                    if previous is not None:
                        await run_shielded(previous, crash=self.crash)
                    in_flight = asyncio.ensure_future(self._apply_and_commit(prepared, offsets))
                elif in_flight is not None:  # nothing new: finish the last fetch before waiting again
                    previous, in_flight = in_flight, None
                    await run_shielded(previous, crash=self.crash)
                if time.monotonic() - last_lag > self.lag_refresh_s:
                    last_lag = time.monotonic()
                    self.consumer.refresh_lag({(tp.topic, tp.partition) for tp in kafka.assignment()})
        finally:
            try:
                if in_flight is not None:
                    await run_shielded(in_flight, crash=self.crash)
            finally:
                await kafka.stop()

    async def _fetch(
        self, kafka: AIOKafkaConsumer, lanes: int, wait_ms: int
    ) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Up to `max_events` buffered records for each lane, or (nothing buffered) up to `max_events`
        arriving within `wait_ms`. Why per lane: `getmany` drains one partition's buffer before the next, so with a
        backlog one fetch for all lanes was often a single partition's records: one lane got twice its batch and
        the others nothing."""
        limit = self.max_events
        by_lane: dict[int, list[TopicPartition]] = {}
        for tp in kafka.assignment():
            by_lane.setdefault(tp.partition % lanes, []).append(tp)
        fetched: dict[TopicPartition, list[ConsumerRecord]] = {}
        if lanes > 1:
            for partitions in by_lane.values():
                fetched.update(await kafka.getmany(*partitions, timeout_ms=0, max_records=limit))
        if not any(fetched.values()):
            fetched = await kafka.getmany(timeout_ms=wait_ms, max_records=limit)
        return fetched

    async def _apply_and_commit(
        self, prepared: list[PreparedBatch], offsets: dict[TopicPartition, OffsetAndMetadata]
    ) -> None:
        await asyncio.gather(*(self.consumer.apply(lane) for lane in prepared))
        await self._commit(offsets)

    async def _commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        """A rebalance during the batch may have moved its partitions: the new owner re-reads from the last
        committed offset and the inbox skips what this batch applied, so a refused commit is only logged."""
        kafka = self.kafka
        assert kafka is not None
        try:
            await retry_transient(lambda: kafka.commit(offsets), name="offset_commit")
        except (CommitFailedError, IllegalStateError) as exc:
            log.warning("offsets not committed after a rebalance; the new owner re-reads", extra={"error": f"{exc}"})

    def _highwater(self, topic: str, partition: int) -> int | None:
        try:
            return self.kafka.highwater(TopicPartition(topic, partition)) if self.kafka else None
        except Exception:
            return None


def _lanes(fetched: dict[TopicPartition, list[ConsumerRecord]], lanes: int) -> list[list[RawMessage]]:
    """The fetch as up to `lanes` message lists, by partition number; each in (topic, partition, offset) order."""
    split: dict[int, list[RawMessage]] = {}
    for tp in sorted(fetched, key=lambda tp: (tp.topic, tp.partition)):
        split.setdefault(tp.partition % lanes, []).extend(
            RawMessage(r.topic, r.partition, r.offset, r.key, r.value, list(r.headers or ())) for r in fetched[tp]
        )
    return [messages for _, messages in sorted(split.items()) if messages]
