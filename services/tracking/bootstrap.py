"""Composition root of the tracking service."""

from __future__ import annotations

from pathlib import Path

from services.common.service_app import Runtime, ServiceSpec
from services.tracking.adapters.links import TrackingLinks
from services.tracking.entrypoints import api, consumers, customer_api, erasures, jobs, privacy_api
from services.tracking.metrics import TrackingMetrics


def consumer(runtime: Runtime) -> consumers.ShipmentConsumer:
    """One per process, shared by the subscription and the scheduled checks (rules and learned lanes)."""
    if "tracking_consumer" not in runtime.extras:
        metrics = TrackingMetrics.create(runtime.registry)
        runtime.extras["tracking_consumer"] = consumers.ShipmentConsumer(metrics, links=links(runtime))
    return runtime.extras["tracking_consumer"]


def links(runtime: Runtime) -> TrackingLinks:
    """Customer page links: signed with the platform secret, on the public address (the gateway's /t/...)."""
    if "tracking_links" not in runtime.extras:
        runtime.extras["tracking_links"] = TrackingLinks(runtime.settings.secret_key, runtime.settings.public_base_url)
    return runtime.extras["tracking_links"]


SPEC = ServiceSpec(
    name="tracking",
    title="retention tracking",
    migrations=Path(__file__).parent / "adapters" / "migrations",
    subscriptions=lambda runtime: [*consumers.subscriptions(consumer(runtime)), erasures.subscription()],
    jobs=lambda runtime: jobs.job_handlers(consumer(runtime)),
    on_jobs_committed=lambda runtime: consumer(runtime).metrics.count,
    routers=lambda runtime: [
        api.router(runtime, links(runtime)),
        privacy_api.router(runtime),
        customer_api.router(runtime),
    ],
)
