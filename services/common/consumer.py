"""The micro-batch consumer every service uses: validate, dedupe, apply, stage outbox, one transaction.

A service supplies only a `Subscription`: which topics, which event types, and a handler
`(conn, fresh_events) -> events_to_emit` that runs inside the batch's transaction. The kernel gives it,
for free, the inbox (`processed_events`), the outbox, dead-lettering, transient retries and metrics.

Why this shape: per-event transactions cost 20x (DESIGN §2), and faust acks what an agent raised on
(DESIGN §4), so failures are classified here and a bug ends the process before anything is acked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg
from aiokafka import AIOKafkaProducer

from services.common.contract import Contract, ContractViolation
from services.common.envelope import Envelope
from services.common.errors import InvalidMessage, retry_transient
from services.common.kafka import dlq_headers
from services.common.metrics import KernelMetrics
from services.common.outbox import write_outbox
from services.common.settings import Settings

log = logging.getLogger(__name__)

#: Exit code of a worker that stopped on a bug; the supervisor restarts it with backoff.
CRASH_EXIT_CODE = 70


class BatchHandler(Protocol):
    async def __call__(self, conn: asyncpg.Connection, events: list[Envelope]) -> Sequence[Envelope]: ...


@dataclass(frozen=True)
class Subscription:
    """What one consumer (an inbox name) reads and how it applies a batch."""

    name: str
    topics: tuple[str, ...]
    handle: BatchHandler
    #: Event types this consumer acts on; others on the same topics are skipped silently.
    event_types: frozenset[str] | None = None
    #: Called with the emitted events once their batch committed (business metrics: counted exactly once).
    on_committed: Callable[[Sequence[Envelope]], None] | None = None
    #: This consumer's batch size (events per lane transaction) unless RETENTION_BATCH_MAX_EVENTS is set.
    batch_max_events: int | None = None
    #: This consumer's concurrent lane transactions unless RETENTION_BATCH_LANES is set.
    batch_lanes: int | None = None

    def batch_limit(self, settings: Settings) -> int:
        """An operator's RETENTION_BATCH_MAX_EVENTS applies to every consumer; otherwise the consumer's own size,
        else the platform default."""
        return _own_unless_set(settings, "batch_max_events", self.batch_max_events)

    def lane_count(self, settings: Settings) -> int:
        """The same for RETENTION_BATCH_LANES."""
        return _own_unless_set(settings, "batch_lanes", self.batch_lanes)


def _own_unless_set(settings: Settings, name: str, own: int | None) -> int:
    if name in settings.model_fields_set or own is None:
        return getattr(settings, name)
    return own


@dataclass(frozen=True)
class RawMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()


@dataclass
class BatchOutcome:
    applied: list[Envelope] = field(default_factory=list)
    duplicates: int = 0
    dead_lettered: list[tuple[RawMessage, str]] = field(default_factory=list)


@dataclass
class PreparedBatch:
    """A fetched batch decoded and validated, not yet applied."""

    messages: Sequence[RawMessage]
    #: Wall time spent decoding; the batch duration metric adds it to the apply time.
    decode_s: float = 0.0
    envelopes: list[tuple[RawMessage, Envelope]] = field(default_factory=list)
    outcome: BatchOutcome = field(default_factory=BatchOutcome)


class BatchConsumer:
    def __init__(
        self,
        *,
        service: str,
        subscription: Subscription,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        contract: Contract,
        metrics: KernelMetrics,
        after_commit: Callable[[], None] = lambda: None,
        highwater: Callable[[str, int], int | None] = lambda topic, partition: None,
    ) -> None:
        self.service = service
        self.subscription = subscription
        self.pool = pool
        self.producer = producer
        self.contract = contract
        self.metrics = metrics
        self.after_commit = after_commit
        self.highwater = highwater
        #: Last offset handled per (topic, partition): the lag refresher's reference between batches.
        self.positions: dict[tuple[str, int], int] = {}

    async def process_batch(self, messages: Sequence[RawMessage]) -> BatchOutcome:
        """Apply a batch durably; returns only once everything in it is committed or dead-lettered."""
        return await self.apply(await self.prepare(messages))

    async def prepare(self, messages: Sequence[RawMessage], *, chunk: int = 256) -> PreparedBatch:
        """Decode and validate (CPU only, no I/O): the batch loop runs this for the next batch while the
        current one waits on PostgreSQL. It yields to the event loop every `chunk` messages so that the
        batch in flight resumes as soon as its database answer arrives."""
        started = time.perf_counter()
        prepared = PreparedBatch(messages)
        wanted = self.subscription.event_types
        consumed = self.metrics.events_consumed
        for i, message in enumerate(messages):
            if i and i % chunk == 0:
                await asyncio.sleep(0)
            consumed.labels(self.service, message.topic).inc()
            try:
                envelope = self._decode(message)
            except InvalidMessage as exc:
                prepared.outcome.dead_lettered.append((message, exc.reason))
                continue
            if wanted is None or envelope.type in wanted:
                prepared.envelopes.append((message, envelope))
        prepared.decode_s = time.perf_counter() - started
        return prepared

    async def apply(self, prepared: PreparedBatch) -> BatchOutcome:
        """Apply a prepared batch in one transaction; returns once it is committed or dead-lettered."""
        started = time.perf_counter()
        outcome, envelopes = prepared.outcome, prepared.envelopes
        while True:
            try:
                current = [e for _, e in envelopes]
                applied, duplicates, emitted = await retry_transient(
                    lambda current=current: self._apply(current),
                    name=f"apply:{self.subscription.name}",
                    on_retry=self._count_transient("apply"),
                )
                break
            except InvalidMessage as exc:
                # The handler refused one event: dead-letter it and apply the rest without it.
                bad = [(m, e) for m, e in envelopes if e.event_id == exc.event_id]
                if not bad:
                    raise RuntimeError(f"handler rejected an event not in the batch: {exc.event_id}") from exc
                outcome.dead_lettered.append((bad[0][0], exc.reason))
                envelopes = [(m, e) for m, e in envelopes if e.event_id != exc.event_id]

        outcome.applied, outcome.duplicates = applied, duplicates
        if applied:
            self.after_commit()
            if self.subscription.on_committed is not None:
                self.subscription.on_committed(emitted)
        await self._dead_letter(outcome.dead_lettered)
        self._record(prepared.messages, outcome, time.perf_counter() - started + prepared.decode_s)
        return outcome

    def _decode(self, message: RawMessage) -> Envelope:
        if message.value is None:
            raise InvalidMessage("empty message value (tombstone) on an event topic")
        try:
            envelope = self.contract.validate(message.value)
        except ContractViolation as exc:
            raise InvalidMessage(exc.reason(), error_type="contract") from exc
        expected_topic = self.contract.topic_for(envelope.type).name
        if expected_topic != message.topic:
            raise InvalidMessage(
                f"type: {envelope.type} belongs on {expected_topic}, not {message.topic}", error_type="contract"
            )
        return envelope

    async def _apply(self, envelopes: list[Envelope]) -> tuple[list[Envelope], int, Sequence[Envelope]]:
        if not envelopes:
            return [], 0, []
        async with self.pool.acquire() as conn, conn.transaction():
            inserted = await conn.fetch(
                "INSERT INTO processed_events (consumer, event_id) SELECT $1, unnest($2::uuid[]) "
                "ON CONFLICT DO NOTHING RETURNING event_id",
                self.subscription.name,
                [e.event_id for e in envelopes],
            )
            new_ids: set[uuid.UUID] = {r["event_id"] for r in inserted}
            fresh: list[Envelope] = []
            emitted: Sequence[Envelope] = []
            for envelope in envelopes:  # keep order; the same id twice in one batch applies once
                if envelope.event_id in new_ids:
                    new_ids.discard(envelope.event_id)
                    fresh.append(envelope)
            if fresh:
                emitted = await self.subscription.handle(conn, fresh)
                await write_outbox(conn, self.contract, emitted)
        return fresh, len(envelopes) - len(fresh), emitted

    async def _dead_letter(self, dead: list[tuple[RawMessage, str]]) -> None:
        if not dead:
            return

        async def publish() -> None:
            futures = []
            for message, reason in dead:
                log.warning(
                    "dead-lettering message",
                    extra={
                        "topic": message.topic,
                        "offset": message.offset,
                        "reason": reason,
                        **_ids_of(message.value),
                    },
                )
                headers = dlq_headers(
                    reason=reason,
                    error_type="invalid",
                    topic=message.topic,
                    partition=message.partition,
                    offset=message.offset,
                    consumer=self.subscription.name,
                )
                futures.append(
                    await self.producer.send(
                        f"{message.topic}.dlq",
                        message.value or b"",
                        key=message.key,
                        headers=[*message.headers, *headers],
                    )
                )
            await asyncio.gather(*futures)

        await retry_transient(publish, name="dead_letter", on_retry=self._count_transient("dead_letter"))

    def _record(self, messages: Sequence[RawMessage], outcome: BatchOutcome, seconds: float) -> None:
        topic = messages[0].topic if messages else "-"
        m = self.metrics
        for applied_topic, count in Counter(self.contract.topic_for(e.type).name for e in outcome.applied).items():
            m.events_applied.labels(self.service, applied_topic).inc(count)
        if outcome.duplicates:
            m.duplicates.labels(self.service, topic).inc(outcome.duplicates)
        for message, reason in outcome.dead_lettered:
            m.dead_letters.labels(self.service, message.topic, _reason_label(reason)).inc()
        m.batch_duration.labels(self.service, topic).observe(seconds)
        last: dict[tuple[str, int], int] = {}
        for message in messages:
            last[(message.topic, message.partition)] = max(
                message.offset, last.get((message.topic, message.partition), -1)
            )
        self.positions.update(last)
        for (t, p), offset in last.items():
            high = self.highwater(t, p)
            if high is not None:
                m.consumer_lag.labels(self.service, t, str(p)).set(max(0, high - offset - 1))

    def refresh_lag(self, assigned: set[tuple[str, int]]) -> None:
        """Between batches: lag grows while a consumer is stuck; revoked partitions stop reporting.

        Called on a timer, so a consumer that stopped making progress shows a rising lag (the
        "consumer stalled" signal), and a partition moved to another worker in a rebalance no longer
        reports the stale value this worker last saw.
        """
        for tp in list(self.positions):
            if tp not in assigned:
                del self.positions[tp]
                try:
                    self.metrics.consumer_lag.remove(self.service, tp[0], str(tp[1]))
                except KeyError:
                    pass
        for (t, p), offset in self.positions.items():
            high = self.highwater(t, p)
            if high is not None:
                self.metrics.consumer_lag.labels(self.service, t, str(p)).set(max(0, high - offset - 1))

    def _count_transient(self, operation: str) -> Callable[[BaseException], None]:
        return lambda _exc: self.metrics.transient_errors.labels(self.service, operation).inc()


def _ids_of(value: bytes | None) -> dict[str, str]:
    """merchant_id / event_id of a message we could not accept, when they can be read at all (for logs)."""
    try:
        decoded = json.loads(value or b"")
    except ValueError:
        return {}
    if not isinstance(decoded, dict):
        return {}
    return {k: str(decoded[k])[:128] for k in ("merchant_id", "event_id") if k in decoded}


def _reason_label(reason: str) -> str:
    """A bounded label: the field path or first words of the reason, never ids or values."""
    head = re.sub(r"\[\d+\]", "[]", reason.split(":", 1)[0].strip())
    return head[:60] if head and " " not in head else "other"


def crash_process(exc: BaseException) -> None:
    """A bug: end now, before faust can ack or commit anything the batch did not apply."""
    log.critical("unhandled error in consumer; exiting for the supervisor to restart", exc_info=exc)
    logging.shutdown()
    os._exit(CRASH_EXIT_CODE)


async def run_shielded(batch: Awaitable[Any], *, crash: Callable[[BaseException], None], grace_s: float = 30.0) -> None:
    """Finish an in-flight batch even when the agent is cancelled (shutdown, rebalance).

    faust acks a take() buffer when the generator closes, so a batch cancelled half-way would be
    acked but never applied. Shielding lets it commit first; if it cannot within the grace period,
    the process exits without acking.
    """
    task = asyncio.ensure_future(batch)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=grace_s)
        except BaseException as exc:
            crash(exc)
        raise
    except Exception as exc:
        crash(exc)
        raise
