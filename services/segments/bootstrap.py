"""Composition root of the segments service."""

from __future__ import annotations

from pathlib import Path

from services.common.service_app import Runtime, ServiceSpec
from services.segments.entrypoints import api, consumers, insights_api, insights_jobs, jobs, segments_api
from services.segments.metrics import SegmentsMetrics


def metrics(runtime: Runtime) -> SegmentsMetrics:
    """One set per process, shared by the consumer, the scheduler and the API."""
    if "segments_metrics" not in runtime.extras:
        runtime.extras["segments_metrics"] = SegmentsMetrics.create(runtime.registry)
    return runtime.extras["segments_metrics"]


SPEC = ServiceSpec(
    name="segments",
    title="retention segments",
    migrations=Path(__file__).parent / "adapters" / "migrations",
    subscriptions=lambda runtime: consumers.subscriptions(consumers.ProfileConsumer(metrics(runtime))),
    jobs=lambda runtime: {
        **jobs.SegmentJobs(metrics(runtime)).handlers(),
        **insights_jobs.InsightJobs(metrics(runtime)).handlers(),
    },
    on_jobs_committed=lambda runtime: metrics(runtime).count,
    routers=lambda runtime: [api.router(runtime), segments_api.router(runtime), insights_api.router(runtime)],
)
