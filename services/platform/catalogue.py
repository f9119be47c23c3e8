"""The processes of the platform, their composition roots and default ports, in one place."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from services.common.service_app import ServiceSpec


@dataclass(frozen=True)
class ServiceEntry:
    name: str
    spec_path: str
    default_port: int

    def load_spec(self) -> ServiceSpec:
        module, _, attr = self.spec_path.partition(":")
        return getattr(importlib.import_module(module), attr)


SERVICES: dict[str, ServiceEntry] = {
    entry.name: entry
    for entry in (
        ServiceEntry("gateway", "services.gateway.bootstrap:SPEC", 8000),
        ServiceEntry("loyalty", "services.loyalty.bootstrap:SPEC", 8001),
        ServiceEntry("notifications", "services.notifications.bootstrap:SPEC", 8002),
        ServiceEntry("segments", "services.segments.bootstrap:SPEC", 8003),
        ServiceEntry("tracking", "services.tracking.bootstrap:SPEC", 8004),
    )
}
#: Start order for `retention up`: consumers first, the gateway (which calls them) last.
START_ORDER = ("loyalty", "notifications", "segments", "tracking", "gateway")
