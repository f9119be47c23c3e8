"""The tracking service's consumer and schedule over one test schema (shared by the integration tests)."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from prometheus_client import CollectorRegistry

from services.common.consumer import BatchConsumer, RawMessage
from services.common.envelope import Envelope
from services.common.schedule import Scheduler
from services.tracking.adapters.links import TrackingLinks
from services.tracking.adapters.store import TransitTimes
from services.tracking.entrypoints.consumers import ShipmentConsumer, subscriptions
from services.tracking.entrypoints.jobs import job_handlers
from services.tracking.metrics import TrackingMetrics
from tests.tracking_events import CONTRACT


class TrackingService:
    def __init__(
        self, pool: asyncpg.Pool, producer, kernel_metrics, merchant_id: str, links: TrackingLinks | None = None
    ) -> None:
        self.pool, self.merchant_id = pool, merchant_id
        self.registry = CollectorRegistry()
        transit = TransitTimes(ttl_s=0, window_days=3650)  # the tests' parcels are from fixed dates
        self.shipments = ShipmentConsumer(TrackingMetrics.create(self.registry), transit, links)
        (subscription,) = subscriptions(self.shipments)
        self.consumer = BatchConsumer(
            service="tracking",
            subscription=subscription,
            pool=pool,
            producer=producer,
            contract=CONTRACT,
            metrics=kernel_metrics,
        )
        self.scheduler_args = dict(service="tracking", pool=pool, contract=CONTRACT, metrics=kernel_metrics)
        self.offset = 0

    async def deliver(self, *envelopes: Envelope):
        messages = []
        for envelope in envelopes:
            mine = envelope.model_copy(update={"merchant_id": self.merchant_id})
            self.offset += 1
            messages.append(RawMessage(CONTRACT.topic_for(mine.type).name, 0, self.offset, b"k", mine.to_bytes()))
        return await self.consumer.process_batch(messages)

    async def run_checks(self, now: datetime) -> int:
        """A fresh scheduler each time: what a restarted process would find in the durable schedule."""
        scheduler = Scheduler(
            **self.scheduler_args, handlers=job_handlers(self.shipments), on_committed=self.shipments.metrics.count
        )
        return await scheduler.run_until_idle(now)

    async def emitted(self, event_type: str) -> list[Envelope]:
        rows = await self.pool.fetch("SELECT payload FROM outbox ORDER BY id")
        return [e for e in (Envelope.from_bytes(r["payload"]) for r in rows) if e.type == event_type]

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0
