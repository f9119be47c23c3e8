"""Composition root of the notifications service."""

from __future__ import annotations

from pathlib import Path

from services.common.service_app import Runtime, ServiceSpec
from services.notifications.adapters.rendering import Renderer
from services.notifications.adapters.smtp import SmtpSender
from services.notifications.entrypoints import api, consumers
from services.notifications.entrypoints.sender import NotificationSender
from services.notifications.metrics import NotificationMetrics


def _background(runtime: Runtime) -> list:
    sender = NotificationSender(
        runtime,
        renderer=Renderer(),
        smtp=SmtpSender(runtime.settings.smtp_host, runtime.settings.smtp_port),
        metrics=NotificationMetrics.create(runtime.registry),
    )
    return [sender.run()]


SPEC = ServiceSpec(
    name="notifications",
    title="retention notifications",
    migrations=Path(__file__).parent / "adapters" / "migrations",
    subscriptions=lambda runtime: consumers.subscriptions(),
    routers=lambda runtime: [api.router(runtime)],
    background=_background,
)
