"""Composition root of the tracking service."""

from __future__ import annotations

from pathlib import Path

from services.common.service_app import ServiceSpec
from services.tracking.entrypoints import api, consumers

SPEC = ServiceSpec(
    name="tracking",
    title="retention tracking",
    migrations=Path(__file__).parent / "adapters" / "migrations",
    subscriptions=lambda runtime: consumers.subscriptions(),
    routers=lambda runtime: [api.router(runtime)],
)
