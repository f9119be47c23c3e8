"""The gateway in-process on real PostgreSQL and Kafka: admin API, keys, problems, contract documents."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from services.common.service_app import build_service_app
from services.common.settings import Settings
from services.gateway.bootstrap import SPEC as GATEWAY
from services.gateway.core.security import hash_key

ADMIN = "integration-admin-token-0123456789"


@pytest.fixture
async def gateway(infra, topics) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        KAFKA_BOOTSTRAP_SERVERS=infra.kafka, DATABASE_URL=infra.database_url, admin_token=ADMIN, env="test"
    )
    app = build_service_app(GATEWAY, settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client


async def test_admin_creates_a_merchant_whose_key_is_stored_only_hashed(gateway, infra) -> None:
    merchant_id = f"m-{uuid.uuid4().hex[:10]}"
    body = {"merchant_id": merchant_id, "name": "Kaffeerösterei Dortmund"}
    created = await gateway.post("/admin/v1/merchants", json=body, headers={"Authorization": f"Bearer {ADMIN}"})
    assert created.status_code == 201, created.text
    key = created.json()["api_key"]
    assert key.startswith("rk_test_")
    first = created.json()["key"]  # the first key: every scope, shown with its prefix, never with its hash
    assert key.startswith(first["prefix"]) and "keys:manage" in first["scopes"] and first["status"] == "active"
    assert "hash" not in created.text and hash_key(key) not in created.text

    conn = await asyncpg.connect(infra.database_url)
    try:
        stored = await conn.fetchrow("SELECT * FROM gateway.api_keys WHERE merchant_id = $1", merchant_id)
    finally:
        await conn.close()
    assert stored["key_hash"] == hash_key(key) and key not in str(dict(stored).values())

    again = await gateway.post("/admin/v1/merchants", json=body, headers={"Authorization": f"Bearer {ADMIN}"})
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
    no_admin = await gateway.post("/admin/v1/merchants", json=body, headers={"Authorization": f"Bearer {key}"})
    assert no_admin.status_code == 401

    # The new key works, and last_used_at is recorded.
    accepted = await gateway.post("/v1/events", headers={"Authorization": f"Bearer {key}"}, json={"events": []})
    assert accepted.status_code == 422 and accepted.json()["errors"][0]["path"] == "events"


async def test_strict_admin_input_names_the_field(gateway) -> None:
    response = await gateway.post(
        "/admin/v1/merchants",
        headers={"Authorization": f"Bearer {ADMIN}"},
        json={"merchant_id": "bad id with spaces", "name": "x", "balance": 10},
    )
    paths = {e["path"] for e in response.json()["errors"]}
    assert response.status_code == 422 and {"merchant_id", "balance"} <= paths


async def test_openapi_and_asyncapi_are_served_side_by_side(gateway) -> None:
    openapi = (await gateway.get("/openapi.json")).json()
    asyncapi = (await gateway.get("/asyncapi.json")).json()
    assert "/v1/events" in openapi["paths"] and "/v1/customers/{customer_id}/loyalty" in openapi["paths"]
    assert asyncapi["asyncapi"] == "3.0.0" and "shop.orders" in str(asyncapi["channels"])
    assert (await gateway.get("/asyncapi.yaml")).text.startswith("asyncapi:")
    limited = [
        (path, method)
        for path, operations in openapi["paths"].items()
        if path.startswith(("/v1/", "/t/", "/u/", "/c/"))
        for method, operation in operations.items()
        if "429" not in operation["responses"]
    ]
    assert limited == [], "every merchant route and public page documents its rate limit"


async def test_an_unreachable_service_is_a_503_problem(infra, topics) -> None:
    from services.platform.infra import free_port

    settings = Settings(
        KAFKA_BOOTSTRAP_SERVERS=infra.kafka,
        DATABASE_URL=infra.database_url,
        admin_token=ADMIN,
        loyalty_url=f"http://127.0.0.1:{free_port()}",
        env="test",
    )
    app = build_service_app(GATEWAY, settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            merchant_id = f"m-{uuid.uuid4().hex[:10]}"
            created = await client.post(
                "/admin/v1/merchants",
                headers={"Authorization": f"Bearer {ADMIN}"},
                json={"merchant_id": merchant_id, "name": "Shop"},
            )
            key = created.json()["api_key"]
            response = await client.get("/v1/customers/c-1/loyalty", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 503 and "loyalty" in response.json()["title"]


def test_cli_creates_a_merchant_and_prints_the_key_once(infra) -> None:
    merchant_id = f"m-{uuid.uuid4().hex[:10]}"
    env = {"DATABASE_URL": infra.database_url, "PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [sys.executable, "-m", "services.platform.cli", "merchant", "create", merchant_id, "--name", "CLI Shop"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().startswith("rk_live_")
    again = subprocess.run(
        [sys.executable, "-m", "services.platform.cli", "merchant", "create", merchant_id, "--name", "CLI Shop"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert again.returncode != 0 and "exists" in again.stderr + again.stdout


async def test_each_key_and_each_public_caller_gets_its_own_rate_limit(infra, topics) -> None:
    """A key over its burst gets 429 problem+json with Retry-After, another key is unaffected; the public pages
    (no key) are limited per client address."""
    settings = Settings(
        KAFKA_BOOTSTRAP_SERVERS=infra.kafka,
        DATABASE_URL=infra.database_url,
        admin_token=ADMIN,
        env="test",
        gateway_rate_per_key=0.5,
        gateway_burst_per_key=3,
        gateway_public_rate_per_ip=0.5,
        gateway_public_burst_per_ip=2,
        gateway_client_ip_header="X-Forwarded-For",
    )
    app = build_service_app(GATEWAY, settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            keys = []
            for _ in range(2):
                created = await client.post(
                    "/admin/v1/merchants",
                    headers={"Authorization": f"Bearer {ADMIN}"},
                    json={"merchant_id": f"m-{uuid.uuid4().hex[:10]}", "name": "Shop"},
                )
                keys.append(created.json()["api_key"])

            async def contract_call(key: str) -> httpx.Response:
                return await client.get("/v1/notifications/settings", headers={"Authorization": f"Bearer {key}"})

            first = [(await contract_call(keys[0])).status_code for _ in range(4)]
            limited = await contract_call(keys[0])
            other = await contract_call(keys[1])
            bad_key = await client.get("/v1/notifications/settings", headers={"Authorization": "Bearer rk_test_x"})
            pages = [(await client.get(f"/u/{'A' * 30}")).status_code for _ in range(3)]
            via_proxy = await client.get(f"/u/{'A' * 30}", headers={"X-Forwarded-For": "203.0.113.7, 10.0.0.1"})
    assert first[:3] != [429] * 3 and first[3] == 429 and limited.status_code == 429
    assert limited.headers["content-type"] == "application/problem+json"
    assert limited.json()["title"] == "Too many requests" and int(limited.headers["Retry-After"]) >= 1
    assert other.status_code != 429  # the other merchant's key has its own bucket
    assert bad_key.status_code == 401  # an unknown key is refused before it could spend anyone's tokens
    assert pages[:2] != [429, 429] and pages[2] == 429
    assert via_proxy.status_code != 429  # another customer behind the same proxy
