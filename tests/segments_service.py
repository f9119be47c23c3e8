"""Builders of the events segments reads and a driver of its consumer and schedule over one test schema."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from services.common.consumer import BatchConsumer, RawMessage
from services.common.contract import load_contract
from services.common.envelope import Envelope, new_envelope
from services.common.http import install_problem_handlers
from services.common.metrics import KernelMetrics, new_registry
from services.common.migrations import apply_migrations, migrations_for
from services.common.schedule import Scheduler
from services.common.service_app import Runtime
from services.segments.bootstrap import SPEC as SEGMENTS
from services.segments.entrypoints import api, insights_api, segments_api
from services.segments.entrypoints.consumers import ProfileConsumer, subscriptions
from services.segments.entrypoints.insights_jobs import InsightJobs
from services.segments.entrypoints.jobs import SegmentJobs
from services.segments.metrics import SegmentsMetrics

CONTRACT = load_contract()


def order(
    order_id: str,
    customer: str,
    at: datetime,
    total: int = 5_000,
    *,
    category: str = "coffee",
    product: str = "p-espresso",
    channel: str = "web_shop",
    codes: tuple[str, ...] = (),
) -> tuple[str, dict]:
    return "order.placed", {
        "order_id": order_id, "order_number": order_id.upper(), "customer_id": customer, "currency": "EUR",
        "lines": [{"line_id": "L1", "sku": f"sku-{product}", "product_id": product, "name": product,
                   "category": category, "quantity": 1, "unit_price_minor": total, "total_minor": total}],
        "subtotal_minor": total, "shipping_minor": 0, "tax_minor": 0, "discount_minor": 0, "total_minor": total,
        "discount_codes": list(codes), "channel": channel, "is_guest_checkout": False,
        "shipping_address": {"city": "Dortmund", "postcode": "44135", "country": "DE"},
    }  # fmt: skip


def customer(
    customer_id: str,
    *,
    email: str = "anna@example.de",
    birthday: str | None = None,
    city: str = "Dortmund",
    kind: str = "customer.created",
) -> tuple[str, dict]:
    data: dict[str, Any] = {
        "customer_id": customer_id, "email": email, "first_name": "Anna", "last_name": "Müller",
        "salutation": "frau", "locale": "de-DE", "is_guest": False, "phone": "+4923112345678",
        "address": {"city": city, "postcode": "44135", "country": "DE"},
    }  # fmt: skip
    if birthday:
        data["birthday"] = birthday
    return kind, data


def consent(customer_id: str, granted: bool, channel: str = "advertising") -> tuple[str, dict]:
    purpose = "advertising" if channel == "advertising" else "marketing"
    return "consent.changed", {"customer_id": customer_id, "channel": channel, "purpose": purpose,
                               "granted": granted, "source": "account_settings"}  # fmt: skip


def review(customer_id: str, rating: int, review_id: str = "rv-1") -> tuple[str, dict]:
    data = {"review_id": review_id, "customer_id": customer_id, "rating": rating, "title": "Gut",
            "body": "Schnell geliefert.", "has_photo": False, "locale": "de-DE"}  # fmt: skip
    return "review.submitted", data


class SegmentsService:
    def __init__(self, pool: asyncpg.Pool, producer, kernel_metrics, merchant_id: str, clock) -> None:
        self.pool, self.merchant_id, self.clock = pool, merchant_id, clock
        self.registry = CollectorRegistry()
        self.metrics = SegmentsMetrics.create(self.registry)
        self.profiles = ProfileConsumer(self.metrics, clock=lambda: self.clock())
        (subscription,) = subscriptions(self.profiles)
        self.consumer = BatchConsumer(
            service="segments", subscription=subscription, pool=pool, producer=producer, contract=CONTRACT,
            metrics=kernel_metrics,
        )  # fmt: skip
        self.scheduler_args = dict(service="segments", pool=pool, contract=CONTRACT, metrics=kernel_metrics)
        self.offset = 0
        self.insight_jobs = InsightJobs(self.metrics)
        #: Customers per page of a scheduled walk (small in tests, so walks span several job runs).
        self.page = 2

    def event(self, kind_data: tuple[str, dict], at: datetime) -> Envelope:
        kind, data = kind_data
        return new_envelope(kind, self.merchant_id, data, occurred_at=at)

    async def deliver(self, *envelopes: Envelope):
        messages = []
        for envelope in envelopes:
            self.offset += 1
            messages.append(
                RawMessage(CONTRACT.topic_for(envelope.type).name, 0, self.offset, b"k", envelope.to_bytes())
            )
        return await self.consumer.process_batch(messages)

    async def run_jobs(self, now: datetime | None = None) -> int:
        """A fresh scheduler each time: what a restarted process would find in the durable schedule."""
        handlers = {**SegmentJobs(self.metrics, page=self.page).handlers(), **self.insight_jobs.handlers()}
        scheduler = Scheduler(**self.scheduler_args, handlers=handlers, on_committed=self.metrics.count)
        return await scheduler.run_until_idle(now or self.clock())

    async def emitted(self, *types: str) -> list[Envelope]:
        rows = await self.pool.fetch("SELECT payload FROM outbox ORDER BY id")
        return [e for e in (Envelope.from_bytes(r["payload"]) for r in rows) if e.type in types]

    async def memberships(self, customer_id: str) -> set[str]:
        row = await self.pool.fetchval(
            "SELECT memberships FROM profiles WHERE merchant_id = $1 AND customer_id = $2",
            self.merchant_id,
            customer_id,
        )
        return set(row or {})


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


T0 = utc(2026, 3, 2, 9)


class Clock:
    """The time the consumer and the API see; tests move it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# Fixtures for the segments integration tests (imported by their modules).


@pytest.fixture
async def pool(schema_pool) -> asyncpg.Pool:
    schema, pool = schema_pool
    await apply_migrations(pool, schema, migrations_for(SEGMENTS.migrations))
    return pool


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def segments(pool, producer, kernel_metrics, merchant_id, clock) -> SegmentsService:
    return SegmentsService(pool, producer, kernel_metrics, merchant_id, clock)


@pytest.fixture
async def client(pool, settings, clock) -> httpx.AsyncClient:
    """Segments' internal HTTP API (all its routers) in-process, on the test schema and clock."""
    registry = new_registry()
    runtime = Runtime("segments", settings, load_contract(), registry, KernelMetrics.create(registry))
    runtime.pool = pool
    app = FastAPI()
    install_problem_handlers(app)
    for module in (api, segments_api, insights_api):
        app.include_router(module.router(runtime, clock=clock))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://segments") as http:
        yield http
