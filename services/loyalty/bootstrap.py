"""Composition root of the loyalty service."""

from __future__ import annotations

from pathlib import Path

from services.common.service_app import Runtime, ServiceSpec
from services.loyalty.entrypoints import api, consumers, jobs, privacy_api
from services.loyalty.metrics import LoyaltyMetrics


def metrics(runtime: Runtime) -> LoyaltyMetrics:
    """One set per process, shared by the consumer, the scheduler and the API."""
    if "loyalty_metrics" not in runtime.extras:
        runtime.extras["loyalty_metrics"] = LoyaltyMetrics.create(runtime.registry)
    return runtime.extras["loyalty_metrics"]


SPEC = ServiceSpec(
    name="loyalty",
    title="retention loyalty",
    migrations=Path(__file__).parent / "adapters" / "migrations",
    subscriptions=lambda runtime: consumers.subscriptions(metrics(runtime)),
    jobs=lambda runtime: jobs.job_handlers(),
    on_jobs_committed=lambda runtime: metrics(runtime).count,
    routers=lambda runtime: [api.router(runtime, metrics(runtime)), privacy_api.router(runtime)],
)
