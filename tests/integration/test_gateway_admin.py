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
