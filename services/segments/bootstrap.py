"""Composition root of the segments service."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from services.common.schedule import JobHandler
from services.common.service_app import Runtime, ServiceSpec
from services.segments.entrypoints import api, consumers, insights_api, insights_jobs, jobs, privacy_api, segments_api
from services.segments.metrics import SegmentsMetrics


def metrics(runtime: Runtime) -> SegmentsMetrics:
    """One set per process, shared by the consumer, the scheduler and the API."""
    if "segments_metrics" not in runtime.extras:
        runtime.extras["segments_metrics"] = SegmentsMetrics.create(runtime.registry)
    return runtime.extras["segments_metrics"]


def _profiles(runtime: Runtime) -> consumers.ProfileConsumer:
    s = runtime.settings
    return consumers.ProfileConsumer(
        metrics(runtime),
        reevaluate_every=timedelta(seconds=s.segments_reevaluate_interval_s),
        cross_sell_after=timedelta(days=s.segments_cross_sell_days),
    )


def _jobs(runtime: Runtime) -> dict[str, JobHandler]:
    s = runtime.settings
    every = timedelta(seconds=s.segments_reevaluate_interval_s)
    sync = timedelta(seconds=s.segments_audience_sync_interval_s)
    return {
        **jobs.SegmentJobs(metrics(runtime), every=every).handlers(),
        **insights_jobs.InsightJobs(metrics(runtime), sync_every=sync).handlers(),
    }


SPEC = ServiceSpec(
    name="segments",
    title="retention segments",
    migrations=Path(__file__).parent / "adapters" / "migrations",
    subscriptions=lambda runtime: consumers.subscriptions(_profiles(runtime)),
    jobs=_jobs,
    on_jobs_committed=lambda runtime: metrics(runtime).count,
    routers=lambda runtime: [
        api.router(runtime),
        segments_api.router(runtime),
        insights_api.router(runtime),
        privacy_api.router(runtime),
    ],
)
