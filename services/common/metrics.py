"""Prometheus metrics every process shares, declared once with an injected registry.

Service-specific metrics live in each service's own `metrics.py`, built the same way.
"""

from __future__ import annotations

from typing import NamedTuple

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    platform_collector,
    process_collector,
)

#: Batches take milliseconds to a few seconds; finer buckets at the low end where p50 lives.
BATCH_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: HTTP calls: the gateway's p99 target is 100 ms per batch call.
HTTP_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def new_registry() -> CollectorRegistry:
    """A process registry with the standard process_* / python_* collectors."""
    registry = CollectorRegistry()
    process_collector.ProcessCollector(registry=registry)
    platform_collector.PlatformCollector(registry=registry)
    gc_collector.GCCollector(registry=registry)
    return registry


class KernelMetrics(NamedTuple):
    events_consumed: Counter
    events_applied: Counter
    duplicates: Counter
    dead_letters: Counter
    transient_errors: Counter
    batch_duration: Histogram
    consumer_lag: Gauge
    outbox_relayed: Counter
    outbox_pending: Gauge
    http_requests: Counter
    http_duration: Histogram
    jobs_run: Counter
    jobs_failed: Counter
    schedule_delay: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> KernelMetrics:
        return cls(
            events_consumed=Counter(
                "retention_events_consumed_total",
                "Messages read from a topic.",
                ["service", "topic"],
                registry=registry,
            ),
            events_applied=Counter(
                "retention_events_applied_total",
                "Events whose effect was committed.",
                ["service", "topic"],
                registry=registry,
            ),
            duplicates=Counter(
                "retention_duplicates_total",
                "Redelivered events skipped by the inbox.",
                ["service", "topic"],
                registry=registry,
            ),
            dead_letters=Counter(
                "retention_dead_letters_total",
                "Invalid messages sent to <topic>.dlq.",
                ["service", "topic", "reason"],
                registry=registry,
            ),
            transient_errors=Counter(
                "retention_transient_errors_total",
                "Retried failures of the database or broker.",
                ["service", "operation"],
                registry=registry,
            ),
            batch_duration=Histogram(
                "retention_batch_duration_seconds",
                "Time to validate, apply and commit one micro-batch.",
                ["service", "topic"],
                buckets=BATCH_SECONDS_BUCKETS,
                registry=registry,
            ),
            consumer_lag=Gauge(
                "retention_consumer_lag",
                "Messages behind the fetch high watermark.",
                ["service", "topic", "partition"],
                registry=registry,
            ),
            outbox_relayed=Counter(
                "retention_outbox_relayed_total",
                "Outbox events published to Kafka.",
                ["service", "topic"],
                registry=registry,
            ),
            outbox_pending=Gauge(
                "retention_outbox_pending",
                "Outbox events not yet published (last poll).",
                ["service"],
                registry=registry,
            ),
            http_requests=Counter(
                "retention_http_requests_total",
                "HTTP requests served.",
                ["service", "route", "method", "status"],
                registry=registry,
            ),
            http_duration=Histogram(
                "retention_http_request_duration_seconds",
                "HTTP request latency.",
                ["service", "route", "method"],
                buckets=HTTP_SECONDS_BUCKETS,
                registry=registry,
            ),
            jobs_run=Counter(
                "retention_scheduled_jobs_run_total",
                "Scheduled jobs whose effect committed.",
                ["service", "kind"],
                registry=registry,
            ),
            jobs_failed=Counter(
                "retention_scheduled_jobs_failed_total",
                "Scheduled job attempts that raised (retried with backoff, parked after max attempts).",
                ["service", "kind"],
                registry=registry,
            ),
            schedule_delay=Gauge(
                "retention_schedule_delay_seconds",
                "How late the oldest due scheduled job is (0 when the schedule is caught up).",
                ["service"],
                registry=registry,
            ),
        )
