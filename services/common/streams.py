"""faust-streaming glue: an app factory tuned for our brokers and agents that feed BatchConsumers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import faust
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP

from services.common.consumer import BatchConsumer, RawMessage, crash_process, run_shielded
from services.common.settings import Settings

log = logging.getLogger(__name__)


def bound_fetch_wait(max_wait_ms: int) -> None:
    """Cap how long a fetch may wait on the broker for new records (faust hard-codes 1,500 ms).

    Kafka answers a waiting fetch as soon as records arrive; the dev broker (Tansu) holds it for the whole
    wait, which put up to 1.5 s on every event that arrived after the worker caught up (p99 1.6 s at
    1,000 events/s in `make bench-loyalty`). faust exposes no setting, so its factory is wrapped once.
    """
    create = AIOKafkaConsumerThread._create_worker_consumer
    if getattr(create, "retention_max_wait_ms", None) == max_wait_ms:
        return
    original = getattr(create, "__wrapped__", create)

    def create_worker_consumer(self, transport):  # type: ignore[no-untyped-def]
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = max_wait_ms  # read by aiokafka when it builds its fetcher on start()
        return consumer

    create_worker_consumer.__wrapped__ = original  # type: ignore[attr-defined]
    create_worker_consumer.retention_max_wait_ms = max_wait_ms  # type: ignore[attr-defined]
    AIOKafkaConsumerThread._create_worker_consumer = create_worker_consumer  # type: ignore[method-assign]


def make_faust_app(service: str, settings: Settings) -> faust.App:
    """One faust app per service process; the consumer group is `retention-<service>`.

    - rebalance timeout of seconds: a group join waits about half of it (DESIGN §2);
    - `earliest` for new groups: ListOffsets is wrong on the dev broker, and dedup makes replays safe;
    - no faust-declared topics, tables or leader topic: topics come from the contract, state from Postgres;
    - large fetches and buffers feed `take_events` micro-batches.
    """
    Path(settings.faust_data_dir).mkdir(parents=True, exist_ok=True)  # faust creates only the last level
    bound_fetch_wait(settings.kafka_fetch_max_wait_ms)
    brokers = [f"kafka://{server.strip()}" for server in settings.kafka_bootstrap_servers.split(",")]
    return faust.App(
        f"retention-{service}",
        broker=brokers,
        autodiscover=False,
        datadir=Path(settings.faust_data_dir) / f"retention-{service}-data",
        web_enabled=False,
        store="memory://",
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_rebalance_timeout=settings.kafka_rebalance_timeout_s,
        broker_session_timeout=settings.kafka_session_timeout_s,
        broker_heartbeat_interval=1.0,
        broker_commit_every=10_000,
        broker_commit_interval=1.0,
        broker_max_poll_records=5_000,
        consumer_max_fetch_size=4 * 1024 * 1024,
        stream_buffer_maxsize=max(4096, settings.batch_max_events * 2),
        producer_acks=-1,
    )


def register_agent(
    app: faust.App,
    consumer_factory: Callable[[], BatchConsumer],
    *,
    name: str,
    topics: tuple[str, ...],
    max_events: int,
    max_wait_s: float,
    crash: Callable[[BaseException], None] = crash_process,
    lag_refresh_s: float = 5.0,
) -> None:
    """An agent that hands micro-batches of raw messages to a BatchConsumer.

    The consumer is built lazily (the pool and producer exist only once the process has started).
    concurrency stays 1: more can commit past an in-flight message (DESIGN §4).
    """
    channel = app.topic(*topics, key_serializer="raw", value_serializer="raw")

    def highwater(topic: str, partition: int) -> int | None:
        try:
            return app.consumer.highwater(TP(topic, partition))
        except Exception:
            return None

    current: dict[str, BatchConsumer] = {}

    async def agent(stream: faust.StreamT) -> None:
        consumer = consumer_factory()
        consumer.highwater = highwater
        current["consumer"] = consumer
        async for events in stream.take_events(max_events, within=max_wait_s):
            messages = [
                RawMessage(
                    topic=e.message.topic,
                    partition=e.message.partition,
                    offset=e.message.offset,
                    key=e.message.key,
                    value=e.message.value,
                    headers=list(e.message.headers or ()),
                )
                for e in events
            ]
            await run_shielded(consumer.process_batch(messages), crash=crash)

    app.agent(channel, name=f"retention.{name}", concurrency=1)(agent)

    @app.timer(interval=lag_refresh_s, name=f"retention.{name}.lag")
    async def refresh_lag() -> None:
        consumer = current.get("consumer")
        if consumer is not None:
            assigned = {(tp.topic, tp.partition) for tp in app.consumer.assignment() if tp.topic in topics}
            consumer.refresh_lag(assigned)
