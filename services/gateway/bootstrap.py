"""Composition root of the gateway: the merchant-facing API in front of the services and Kafka."""

from __future__ import annotations

from pathlib import Path

from services.common.rate import TokenBuckets
from services.common.service_app import Runtime, ServiceSpec
from services.gateway.adapters.services import ServiceClient
from services.gateway.api import idempotency
from services.gateway.api.routes import (
    admin,
    contract,
    customers,
    events,
    insights,
    keys,
    loyalty,
    notifications,
    pages,
    privacy,
    segments,
    tracking,
    webhooks,
)
from services.gateway.metrics import GatewayMetrics


async def _startup(runtime: Runtime) -> None:
    s = runtime.settings
    runtime.extras["key_limits"] = TokenBuckets(s.gateway_rate_per_key, s.gateway_burst_per_key)
    runtime.extras["public_limits"] = TokenBuckets(s.gateway_public_rate_per_ip, s.gateway_public_burst_per_ip)
    runtime.extras["services"] = ServiceClient(
        {
            "loyalty": s.loyalty_url,
            "notifications": s.notifications_url,
            "segments": s.segments_url,
            "tracking": s.tracking_url,
        }
    )


async def _shutdown(runtime: Runtime) -> None:
    await runtime.extras["services"].close()


def _routers(runtime: Runtime) -> list:
    runtime.extras["gateway_metrics"] = GatewayMetrics.create(runtime.registry)
    return [
        events.router,
        webhooks.router,  # /v1/webhooks/shopify/...: signed deliveries, and the secret to verify them
        customers.router,
        loyalty.router,
        tracking.router,
        notifications.router,
        segments.router,
        insights.router,
        privacy.router,  # /v1/customers/{id}/export, /erasure and /v1/privacy/erasures/{id}
        keys.router,  # /v1/keys: a merchant's own keys
        pages.router,
        admin.router,
        contract.router,
    ]


SPEC = ServiceSpec(
    name="gateway",
    title="retention gateway: merchant API",
    migrations=Path(__file__).parent / "adapters" / "migrations",
    routers=_routers,
    on_startup=_startup,
    on_shutdown=_shutdown,
    # Idempotency-Key on every mutating /v1 call: an ASGI middleware in front of the routes, and its OpenAPI header.
    configure_app=lambda app, runtime: idempotency.install(app),
)
