"""Metrics of the notifications service, declared once with an injected registry."""

from __future__ import annotations

from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter


class NotificationMetrics(NamedTuple):
    sent: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> NotificationMetrics:
        return cls(
            sent=Counter(
                "retention_notifications_sent_total",
                "Notifications by final status.",
                ["template", "status"],
                registry=registry,
            )
        )
