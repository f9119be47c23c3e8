"""The gateway's privacy routes on real PostgreSQL and Kafka with every service unreachable: an erasure request is
published before it is answered, its status is the requesting merchant's only, and neither an export nor a status
is ever answered from part of the services."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from services.common.service_app import build_service_app
from services.common.settings import Settings
from services.gateway.bootstrap import SPEC as GATEWAY
from services.platform.infra import free_port
from tests.support import consume_until

pytestmark = pytest.mark.integration

ADMIN = "integration-admin-token-0123456789"
PROBLEM = "application/problem+json"


@pytest.fixture
async def gateway(infra, topics) -> AsyncIterator[httpx.AsyncClient]:
    down = {f"{name}_url": f"http://127.0.0.1:{free_port()}" for name in ("loyalty", "notifications", "segments")}
    settings = Settings(
        KAFKA_BOOTSTRAP_SERVERS=infra.kafka,
        DATABASE_URL=infra.database_url,
        admin_token=ADMIN,
        env="test",
        tracking_url=f"http://127.0.0.1:{free_port()}",
        **down,
    )
    app = build_service_app(GATEWAY, settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
            yield http


async def merchant(http: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    merchant_id = f"m-{uuid.uuid4().hex[:10]}"
    created = await http.post(
        "/admin/v1/merchants",
        headers={"Authorization": f"Bearer {ADMIN}"},
        json={"merchant_id": merchant_id, "name": "Datenschutz GmbH"},
    )
    assert created.status_code == 201, created.text
    return merchant_id, {"Authorization": f"Bearer {created.json()['api_key']}"}


async def test_an_erasure_is_on_kafka_when_accepted_and_its_status_never_guesses(gateway, infra) -> None:
    merchant_id, key = await merchant(gateway)
    _, other = await merchant(gateway)
    requested = await gateway.post("/v1/customers/c-4711/erasure", json={"requested_by": "authority"}, headers=key)
    assert requested.status_code == 202, requested.text
    body = requested.json()
    assert body["status"] == "pending" and requested.headers["location"] == body["status_url"]

    records = await consume_until(
        infra.kafka, "shop.customers", lambda r: body["request_id"].encode() in (r.value or b""), timeout_s=30
    )
    (event,) = [json.loads(r.value) for r in records]
    assert event["type"] == "customer.erasure_requested" and event["merchant_id"] == merchant_id
    assert event["data"] == {"customer_id": "c-4711", "request_id": body["request_id"], "requested_by": "authority"}
    assert records[0].key == f"{merchant_id}:c-4711".encode()

    down = await gateway.get(body["status_url"], headers=key)  # nobody can confirm: not "pending", a 503
    assert down.status_code == 503 and down.headers["content-type"] == PROBLEM
    assert (await gateway.get(body["status_url"], headers=other)).status_code == 404
    export = await gateway.get("/v1/customers/c-4711/export", headers=key)
    assert export.status_code == 503 and export.headers["content-type"] == PROBLEM
    assert "service is unavailable" in export.json()["title"]

    bad = await gateway.post("/v1/customers/c-4711/erasure", json={"requested_by": "me", "x": 1}, headers=key)
    assert bad.status_code == 422 and {e["path"] for e in bad.json()["errors"]} == {"requested_by", "x"}
    assert (await gateway.get("/v1/privacy/erasures/not-a-uuid", headers=key)).status_code == 422


async def test_the_privacy_routes_are_documented(gateway) -> None:
    paths = (await gateway.get("/openapi.json")).json()["paths"]
    expected = {
        "/v1/customers/{customer_id}/export": "get",
        "/v1/customers/{customer_id}/erasure": "post",
        "/v1/privacy/erasures/{request_id}": "get",
    }
    for path, method in expected.items():
        operation = paths[path][method]
        assert operation["summary"] and operation["description"], path
        assert {"401", "403", "429", "503"} <= set(operation["responses"]), path
    assert "Location" in paths["/v1/customers/{customer_id}/erasure"]["post"]["responses"]["202"]["headers"]
    assert "404" in paths["/v1/privacy/erasures/{request_id}"]["get"]["responses"]
