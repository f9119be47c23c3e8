"""Composition root of the notifications service."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from services.common.service_app import Runtime, ServiceSpec
from services.common.settings import Settings
from services.notifications.adapters.rendering import Renderer
from services.notifications.adapters.smtp import SmtpConfig, SmtpSender
from services.notifications.adapters.unsubscribe import OptInLinks, UnsubscribeLinks
from services.notifications.domain.rate import MerchantRate
from services.notifications.entrypoints import api, consumers, privacy_api, templates_api
from services.notifications.entrypoints.sender import NotificationSender
from services.notifications.metrics import NotificationMetrics


def unsubscribe_links(runtime: Runtime) -> UnsubscribeLinks:
    """Signed with the platform secret, on the public address (the gateway's /u/...)."""
    return UnsubscribeLinks(runtime.settings.secret_key, runtime.settings.public_base_url)


def smtp_config(settings: Settings) -> SmtpConfig:
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        security=settings.smtp_security,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        timeout_s=settings.smtp_timeout_s,
        connections=settings.smtp_connections,
    )


def opt_in_links(runtime: Runtime) -> OptInLinks:
    return OptInLinks(runtime.settings.secret_key, runtime.settings.public_base_url)


def _background(runtime: Runtime) -> list:
    sender = NotificationSender(
        runtime,
        renderer=Renderer(),
        smtp=SmtpSender(smtp_config(runtime.settings)),
        batch_size=4 * runtime.settings.smtp_connections,
        retry_wait=timedelta(seconds=runtime.settings.smtp_retry_wait_s),
        interrupted_after=timedelta(seconds=runtime.settings.smtp_interrupted_after_s),
        metrics=NotificationMetrics.create(runtime.registry),
        unsubscribe=unsubscribe_links(runtime),
        opt_in=opt_in_links(runtime),
        rate=MerchantRate(runtime.settings.smtp_merchant_rate),
    )
    return [sender.run()]


SPEC = ServiceSpec(
    name="notifications",
    title="retention notifications",
    migrations=Path(__file__).parent / "adapters" / "migrations",
    subscriptions=lambda runtime: consumers.subscriptions(),
    routers=lambda runtime: [
        api.router(runtime, unsubscribe_links(runtime), opt_in_links(runtime)),
        templates_api.router(runtime),
        privacy_api.router(runtime),
    ],
    background=_background,
)
