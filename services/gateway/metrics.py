"""Metrics of the gateway, declared once with an injected registry."""

from __future__ import annotations

from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter


class GatewayMetrics(NamedTuple):
    accepted: Counter
    rejected: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> GatewayMetrics:
        return cls(
            accepted=Counter(
                "retention_gateway_events_accepted_total", "Events published to Kafka.", ["type"], registry=registry
            ),
            rejected=Counter(
                "retention_gateway_events_rejected_total", "Events refused at the edge.", ["reason"], registry=registry
            ),
        )
