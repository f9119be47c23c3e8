"""Composition root of the segments service."""

from __future__ import annotations

from pathlib import Path

from services.common.service_app import ServiceSpec
from services.segments.entrypoints import api, consumers

SPEC = ServiceSpec(
    name="segments",
    title="retention segments",
    migrations=Path(__file__).parent / "adapters" / "migrations",
    subscriptions=lambda runtime: consumers.subscriptions(),
    routers=lambda runtime: [api.router(runtime)],
)
