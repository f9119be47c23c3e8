"""The gateway's customer reads: a customer's messages from a real notifications service (its routers served by
uvicorn, on real PostgreSQL) for the key's merchant only, the segments service's 404 problem for an unknown profile
passed through unchanged, and an example for every operation in the OpenAPI document."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.common.contract import load_contract
from services.common.envelope import new_envelope
from services.common.metrics import KernelMetrics, new_registry
from services.common.migrations import apply_migrations, migrations_for
from services.common.service_app import Runtime
from services.common.settings import Settings
from services.notifications.adapters.store import insert_requests, set_status
from services.notifications.bootstrap import SPEC as NOTIFICATIONS
from services.notifications.domain.messages import request_for
from tests.gateway_support import Gateway, running_gateway, serving
from tests.integration.test_gateway_service_calls import Answer, Service, service  # noqa: F401

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"
NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
async def notifications(schema_pool, settings: Settings) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    """The notifications service's own routers (as its bootstrap lists them) behind a real HTTP server."""
    schema, pool = schema_pool
    await apply_migrations(pool, schema, migrations_for(NOTIFICATIONS.migrations))
    registry = new_registry()
    runtime = Runtime("notifications", settings, load_contract(), registry, KernelMetrics.create(registry))
    runtime.pool = pool
    async with serving(NOTIFICATIONS, runtime) as url:
        yield url, pool


@pytest.fixture
async def gateway(infra, topics, notifications, service: Service) -> AsyncIterator[Gateway]:  # noqa: F811
    async with running_gateway(infra, notifications_url=notifications[0], segments_url=service.url) as gateway:
        yield gateway


def asked(merchant_id: str, customer_id: str, message: str, at: datetime):
    return new_envelope(
        "notification.requested",
        merchant_id,
        {"customer_id": customer_id, "message": message, "category": "transactional",
         "trigger_id": f"test:{message}:{uuid.uuid4()}", "variables": {"points": 46, "balance": 120}},
        occurred_at=at,
    )  # fmt: skip


async def test_a_customers_messages_newest_first_for_the_keys_merchant_only(gateway: Gateway, notifications) -> None:
    _, pool = notifications
    merchant_id, key = await gateway.merchant()
    _, other_key = await gateway.merchant()
    older = request_for(asked(merchant_id, "c-1", "points_earned", NOW), NOW)
    newer = request_for(asked(merchant_id, "c-1", "shipped", NOW), NOW)
    async with pool.acquire() as conn:
        await insert_requests(conn, [older, newer])
        for request, created_at in ((older, NOW), (newer, NOW + timedelta(minutes=5))):
            sql = "UPDATE notifications SET created_at = $2 WHERE notification_id = $1"
            await conn.execute(sql, request.notification_id, created_at)
    await set_status(pool, older.notification_id, "sent", message_id="<m1@example>", sent_at=NOW)
    await set_status(pool, newer.notification_id, "suppressed", reason="no contact address")

    answer = await gateway.http.get("/v1/customers/c-1/messages", headers=key)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["customer_id"] == "c-1"
    assert [(m["template"], m["status"], m["status_reason"]) for m in body["messages"]] == [
        ("shipped", "suppressed", "no contact address"),
        ("points_earned", "sent", None),
    ]
    assert body["messages"][1]["sent_at"] is not None and body["messages"][0]["sent_at"] is None
    assert body["next_cursor"] is None
    assert (await gateway.http.get("/v1/customers/c-1/messages", headers=other_key)).json()["messages"] == []
    first = (await gateway.http.get("/v1/customers/c-1/messages", params={"limit": 1}, headers=key)).json()
    page = {"limit": 1, "before": first["next_cursor"]}
    second = (await gateway.http.get("/v1/customers/c-1/messages", params=page, headers=key)).json()
    assert [m["template"] for m in first["messages"] + second["messages"]] == ["shipped", "points_earned"]
    assert second["next_cursor"] is None
    bad = await gateway.http.get("/v1/customers/c-1/messages", params={"before": "gestern"}, headers=key)
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "before"


async def test_an_unknown_profile_is_the_services_problem_unchanged(gateway: Gateway, service: Service) -> None:  # noqa: F811
    merchant_id, key = await gateway.merchant()
    unknown = {
        "type": "about:blank",
        "title": "Customer not found",
        "status": 404,
        "detail": "no profile for c-404",
        "errors": [{"path": "customer_id", "message": "unknown"}],
    }
    service.answer(
        f"/internal/v1/merchants/{merchant_id}/customers/c-404/profile", Answer(404, unknown, content_type=PROBLEM)
    )
    answer = await gateway.http.get("/v1/customers/c-404/profile", headers=key)
    assert answer.status_code == 404 and answer.headers["content-type"] == PROBLEM
    assert answer.json() == unknown


async def test_every_customer_read_is_documented_with_an_example(gateway: Gateway) -> None:
    paths = (await gateway.http.get("/openapi.json")).json()["paths"]
    for path in (
        "/v1/customers/{customer_id}/loyalty",
        "/v1/customers/{customer_id}/profile",
        "/v1/customers/{customer_id}/messages",
        "/v1/orders/{order_id}/tracking",
    ):
        operation = paths[path]["get"]
        assert operation["summary"] and operation["description"], path
        assert operation["responses"]["200"]["content"]["application/json"]["example"], path
        assert {"401", "403", "429", "503"} <= set(operation["responses"]), path
