"""Composition root of the loyalty service."""

from __future__ import annotations

from pathlib import Path

from services.common.service_app import ServiceSpec
from services.loyalty.entrypoints import api, consumers, jobs
from services.loyalty.metrics import LoyaltyMetrics

SPEC = ServiceSpec(
    name="loyalty",
    title="retention loyalty",
    migrations=Path(__file__).parent / "adapters" / "migrations",
    subscriptions=lambda runtime: consumers.subscriptions(LoyaltyMetrics.create(runtime.registry)),
    jobs=lambda runtime: jobs.job_handlers(),
    routers=lambda runtime: [api.router(runtime)],
)
