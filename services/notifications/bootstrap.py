"""Composition root of the notifications service."""

from __future__ import annotations

from pathlib import Path

from services.common.service_app import Runtime, ServiceSpec
from services.notifications.adapters.rendering import Renderer
from services.notifications.adapters.smtp import SmtpSender
from services.notifications.adapters.unsubscribe import UnsubscribeLinks
from services.notifications.entrypoints import api, consumers
from services.notifications.entrypoints.sender import NotificationSender
from services.notifications.metrics import NotificationMetrics


def unsubscribe_links(runtime: Runtime) -> UnsubscribeLinks:
    """Signed with the platform secret, on the public address (the gateway's /u/...)."""
    return UnsubscribeLinks(runtime.settings.secret_key, runtime.settings.public_base_url)


def _background(runtime: Runtime) -> list:
    sender = NotificationSender(
        runtime,
        renderer=Renderer(),
        smtp=SmtpSender(runtime.settings.smtp_host, runtime.settings.smtp_port),
        metrics=NotificationMetrics.create(runtime.registry),
        unsubscribe=unsubscribe_links(runtime),
    )
    return [sender.run()]


SPEC = ServiceSpec(
    name="notifications",
    title="retention notifications",
    migrations=Path(__file__).parent / "adapters" / "migrations",
    subscriptions=lambda runtime: consumers.subscriptions(),
    routers=lambda runtime: [api.router(runtime, unsubscribe_links(runtime))],
    background=_background,
)
