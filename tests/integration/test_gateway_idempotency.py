"""`Idempotency-Key` through the whole gateway on real PostgreSQL and Kafka, with a real segments service behind it:
replays, 422 for another request, one effect from 20 concurrent identical requests, PUT/DELETE replayed, 5xx not
kept, GET untouched, keys per merchant, expiry, and the header in the OpenAPI document."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from services.common.service_app import build_service_app
from services.common.settings import Settings
from services.gateway.api.idempotency import PostgresStore
from services.gateway.bootstrap import SPEC as GATEWAY
from services.gateway.core import idempotency as rules
from services.platform.infra import free_port
from tests.gateway_support import ADMIN, PROBLEM, Gateway
from tests.integration.test_gateway_segments import CHANGE, segments_url  # noqa: F401
from tests.integration.test_segments import ACTIVE_BUYERS, pool  # noqa: F401
from tests.segments_service import customer

pytestmark = pytest.mark.integration


@pytest.fixture
async def gateway(infra, topics, segments_url: str) -> AsyncIterator[Gateway]:  # noqa: F811
    settings = Settings(
        KAFKA_BOOTSTRAP_SERVERS=infra.kafka,
        DATABASE_URL=infra.database_url,
        admin_token=ADMIN,
        env="test",
        segments_url=segments_url,
        loyalty_url=f"http://127.0.0.1:{free_port()}",  # nobody listens: loyalty calls are 503s
    )
    app = build_service_app(GATEWAY, settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
            yield Gateway(http, app.state.runtime)


def idem(key: dict[str, str], idempotency_key: str) -> dict[str, str]:
    return {**key, "Idempotency-Key": idempotency_key}


def an_event(customer_id: str = "c-1") -> dict[str, Any]:
    kind, data = customer(customer_id)
    return {"event_id": str(uuid.uuid4()), "type": kind, "occurred_at": datetime.now(UTC).isoformat(), "data": data}


async def stored(gateway: Gateway, merchant_id: str) -> list[dict[str, Any]]:
    rows = await gateway.runtime.pool.fetch(
        "SELECT * FROM idempotency_keys WHERE merchant_id = $1 ORDER BY created_at", merchant_id
    )
    return [dict(row) for row in rows]


def executions(gateway: Gateway, route: str, method: str, status: str) -> float:
    """How often a route really ran (a replay or a 409 never reaches a route)."""
    labels = {"service": "gateway", "route": route, "method": method, "status": status}
    return gateway.runtime.registry.get_sample_value("retention_http_requests_total", labels) or 0.0


async def test_a_retry_with_the_same_key_and_body_gets_the_first_answer_again(gateway: Gateway) -> None:
    merchant_id, key = await gateway.merchant()
    event = an_event()
    before = executions(gateway, "/v1/events", "POST", "200")

    first = await gateway.http.post("/v1/events", json=event, headers=idem(key, "evt-retry-1"))
    # The retry re-serialises its JSON (other key order, spaces): still the same request.
    body = json.dumps(dict(reversed(list(event.items()))), indent=2)
    again = await gateway.http.post(
        "/v1/events", content=body, headers={**idem(key, "evt-retry-1"), "Content-Type": "application/json"}
    )

    assert first.status_code == 200 and first.json()["accepted"] == 1, first.text
    assert "idempotent-replayed" not in first.headers
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content and again.headers["content-type"] == first.headers["content-type"]
    assert again.json()["results"][0]["status"] == "accepted"  # not "duplicate": the route did not run again
    assert executions(gateway, "/v1/events", "POST", "200") == before + 1
    assert (
        await gateway.runtime.pool.fetchval("SELECT count(*) FROM ingested_events WHERE merchant_id = $1", merchant_id)
        == 1
    )

    [row] = await stored(gateway, merchant_id)
    assert row["idempotency_key"] == "evt-retry-1" and row["status"] == 200 and row["owner"] is None
    token = key["Authorization"].removeprefix("Bearer ")
    assert token not in str(row) and token[:16] not in str(row)  # neither the API key nor its prefix is kept


async def test_the_same_key_for_another_body_or_path_is_a_422_naming_the_header(gateway: Gateway) -> None:
    merchant_id, key = await gateway.merchant()
    event = an_event()
    first = await gateway.http.post("/v1/events", json=event, headers=idem(key, "k-422"))

    other_body = await gateway.http.post("/v1/events", json=an_event(), headers=idem(key, "k-422"))
    other_path = await gateway.http.post("/v1/segments", json=ACTIVE_BUYERS, headers=idem(key, "k-422"))
    for refused in (other_body, other_path):
        assert refused.status_code == 422 and refused.headers["content-type"] == PROBLEM
        assert refused.json()["errors"] == [{"path": "Idempotency-Key", "message": rules.MISMATCH_MESSAGE}]
    replay = await gateway.http.post("/v1/events", json=event, headers=idem(key, "k-422"))
    assert replay.content == first.content and replay.headers["idempotent-replayed"] == "true"
    assert (await gateway.http.get("/v1/segments", headers=key)).json() == {"items": []}  # never created
    assert [r["fingerprint"] for r in await stored(gateway, merchant_id)] == [
        rules.fingerprint("POST", "/v1/events", b"", json.dumps(event).encode())
    ]


async def test_twenty_concurrent_identical_requests_have_exactly_one_effect(gateway: Gateway) -> None:
    merchant_id, key = await gateway.merchant()
    event = an_event()
    before = executions(gateway, "/v1/events", "POST", "200")

    responses = await asyncio.gather(
        *(gateway.http.post("/v1/events", json=event, headers=idem(key, "burst-1")) for _ in range(20))
    )

    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 409}, statuses
    answers = [r for r in responses if r.status_code == 200]
    originals = [r for r in answers if "idempotent-replayed" not in r.headers]
    assert len(originals) == 1, statuses
    assert all(r.content == originals[0].content for r in answers)  # replays: never a second "duplicate" answer
    assert originals[0].json()["accepted"] == 1
    for conflict in (r for r in responses if r.status_code == 409):
        assert conflict.headers["content-type"] == PROBLEM and conflict.headers["retry-after"] == "1"
        assert conflict.json()["errors"][0]["path"] == "Idempotency-Key"
    assert executions(gateway, "/v1/events", "POST", "200") == before + 1  # the route ran once
    assert (
        await gateway.runtime.pool.fetchval("SELECT count(*) FROM ingested_events WHERE merchant_id = $1", merchant_id)
        == 1
    )
    # Once the first has answered, every retry is the replay.
    late = await gateway.http.post("/v1/events", json=event, headers=idem(key, "burst-1"))
    assert late.status_code == 200 and late.content == originals[0].content


async def test_a_put_and_a_delete_are_replayed_not_applied_twice(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    assert (await gateway.http.post("/v1/segments", json=ACTIVE_BUYERS, headers=key)).status_code == 201

    changed = await gateway.http.put("/v1/segments/active-coffee", json=CHANGE, headers=idem(key, "put-1"))
    again = await gateway.http.put("/v1/segments/active-coffee", json=CHANGE, headers=idem(key, "put-1"))
    assert changed.status_code == 200 and changed.headers["etag"] == '"v2"'
    assert again.status_code == 200 and again.headers["etag"] == '"v2"' and again.content == changed.content
    assert again.headers["idempotent-replayed"] == "true"
    assert (await gateway.http.get("/v1/segments/active-coffee", headers=key)).json()["version"] == 2

    deleted = await gateway.http.delete("/v1/segments/active-coffee", headers=idem(key, "delete-1"))
    retried = await gateway.http.delete("/v1/segments/active-coffee", headers=idem(key, "delete-1"))
    assert deleted.status_code == retried.status_code == 204 and retried.content == b""
    assert retried.headers["idempotent-replayed"] == "true"
    # Without the key the same call runs again, and finds nothing.
    assert (await gateway.http.delete("/v1/segments/active-coffee", headers=key)).status_code == 404


async def test_a_4xx_the_route_gave_is_kept_but_not_a_refused_key_or_scope(gateway: Gateway) -> None:
    merchant_id, key = await gateway.merchant()
    assert (await gateway.http.post("/v1/segments", json=ACTIVE_BUYERS, headers=key)).status_code == 201
    exists = await gateway.http.post("/v1/segments", json=ACTIVE_BUYERS, headers=idem(key, "dup-1"))
    assert exists.status_code == 409 and exists.headers["content-type"] == PROBLEM
    assert (await gateway.http.delete("/v1/segments/active-coffee", headers=key)).status_code == 204
    replayed = await gateway.http.post("/v1/segments", json=ACTIVE_BUYERS, headers=idem(key, "dup-1"))
    assert replayed.status_code == 409 and replayed.headers["idempotent-replayed"] == "true"
    assert replayed.content == exists.content

    read_only = await gateway.key(merchant_id, "segments:read")
    refused = await gateway.http.post("/v1/segments", json=ACTIVE_BUYERS, headers=idem(read_only, "scope-1"))
    assert refused.status_code == 403
    created = await gateway.http.post("/v1/segments", json=ACTIVE_BUYERS, headers=idem(key, "scope-1"))
    assert created.status_code == 201 and "idempotent-replayed" not in created.headers


async def test_a_5xx_is_not_kept_so_the_key_is_free_for_a_retry(gateway: Gateway) -> None:
    merchant_id, key = await gateway.merchant()
    down = await gateway.http.delete("/v1/loyalty/rewards/r-1", headers=idem(key, "retry-5xx"))
    assert down.status_code == 503 and down.headers["content-type"] == PROBLEM
    assert await stored(gateway, merchant_id) == []
    down_again = await gateway.http.delete("/v1/loyalty/rewards/r-1", headers=idem(key, "retry-5xx"))
    assert down_again.status_code == 503 and "idempotent-replayed" not in down_again.headers
    # Nothing was kept, so the key is not tied to that request: another one with it simply runs.
    created = await gateway.http.post("/v1/segments", json=ACTIVE_BUYERS, headers=idem(key, "retry-5xx"))
    assert created.status_code == 201 and "idempotent-replayed" not in created.headers


async def test_get_ignores_the_header(gateway: Gateway) -> None:
    merchant_id, key = await gateway.merchant()
    empty = await gateway.http.get("/v1/segments", headers=idem(key, "read-1"))
    assert (await gateway.http.post("/v1/segments", json=ACTIVE_BUYERS, headers=key)).status_code == 201
    listed = await gateway.http.get("/v1/segments", headers=idem(key, "read-1"))
    weird = await gateway.http.get("/v1/segments", headers=idem(key, "x" * 300))
    assert empty.json() == {"items": []} and "idempotent-replayed" not in listed.headers
    assert [s["segment_id"] for s in listed.json()["items"]] == ["active-coffee"] and weird.status_code == 200
    assert await stored(gateway, merchant_id) == []


async def test_the_same_key_string_of_two_merchants_is_two_independent_keys(gateway: Gateway) -> None:
    a_id, a_key = await gateway.merchant()
    b_id, b_key = await gateway.merchant()
    a = await gateway.http.post("/v1/segments", json=ACTIVE_BUYERS, headers=idem(a_key, "shared"))
    b = await gateway.http.post("/v1/segments", json={**ACTIVE_BUYERS, "name": "B's"}, headers=idem(b_key, "shared"))
    assert a.status_code == b.status_code == 201 and "idempotent-replayed" not in b.headers
    assert b.json()["name"] == "B's"
    a_again = await gateway.http.post("/v1/segments", json=ACTIVE_BUYERS, headers=idem(a_key, "shared"))
    assert a_again.headers["idempotent-replayed"] == "true" and a_again.content == a.content
    assert len(await stored(gateway, a_id)) == len(await stored(gateway, b_id)) == 1


async def test_a_malformed_key_is_a_422_and_no_api_key_means_the_header_is_ignored(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    too_long = await gateway.http.post("/v1/segments", json=ACTIVE_BUYERS, headers=idem(key, "k" * 256))
    assert too_long.status_code == 422 and too_long.headers["content-type"] == PROBLEM
    assert too_long.json()["errors"] == [{"path": "Idempotency-Key", "message": "at most 255 characters"}]
    longest = await gateway.http.post("/v1/segments", json=ACTIVE_BUYERS, headers=idem(key, "k" * 255))
    assert longest.status_code == 201
    anonymous = await gateway.http.post("/v1/events", json=an_event(), headers={"Idempotency-Key": "k" * 256})
    assert anonymous.status_code == 401


async def test_a_request_still_running_is_a_409_and_one_that_died_frees_its_key(gateway: Gateway) -> None:
    merchant_id, key = await gateway.merchant()
    event = an_event()
    fingerprint = rules.fingerprint("POST", "/v1/events", b"", json.dumps(event).encode())
    await gateway.runtime.pool.execute(
        "INSERT INTO idempotency_keys (merchant_id, idempotency_key, fingerprint, owner) VALUES ($1, $2, $3, $4)",
        merchant_id,
        "held",
        fingerprint,
        uuid.uuid4(),
    )
    busy = await gateway.http.post("/v1/events", json=event, headers=idem(key, "held"))
    assert busy.status_code == 409 and busy.headers["retry-after"] == "1"
    assert busy.json()["errors"][0] == {"path": "Idempotency-Key", "message": rules.IN_FLIGHT_MESSAGE}

    # Its process died: past IN_FLIGHT_TIMEOUT the key is taken over and the request runs.
    await gateway.runtime.pool.execute(
        "UPDATE idempotency_keys SET locked_at = now() - $2::interval WHERE merchant_id = $1",
        merchant_id,
        rules.IN_FLIGHT_TIMEOUT * 2,
    )
    ran = await gateway.http.post("/v1/events", json=event, headers=idem(key, "held"))
    assert ran.status_code == 200 and ran.json()["accepted"] == 1 and "idempotent-replayed" not in ran.headers


async def test_keys_expire_after_24_hours_and_are_purged(gateway: Gateway) -> None:
    merchant_id, key = await gateway.merchant()
    first = await gateway.http.post("/v1/events", json=an_event(), headers=idem(key, "old"))
    assert first.status_code == 200
    await gateway.runtime.pool.execute(
        "UPDATE idempotency_keys SET created_at = now() - $2::interval WHERE merchant_id = $1",
        merchant_id,
        rules.TTL * 25 / 24,
    )
    fresh = await gateway.http.post("/v1/events", json=an_event(), headers=idem(key, "old"))
    assert fresh.status_code == 200 and "idempotent-replayed" not in fresh.headers  # a new request, not a 422

    await gateway.runtime.pool.execute(
        "UPDATE idempotency_keys SET created_at = now() - $2::interval WHERE merchant_id = $1",
        merchant_id,
        rules.TTL * 25 / 24,
    )
    assert await PostgresStore(lambda: gateway.runtime.pool).purge() >= 1
    assert await stored(gateway, merchant_id) == []


async def test_every_mutating_route_documents_the_header(gateway: Gateway) -> None:
    openapi = (await gateway.http.get("/openapi.json")).json()
    reference = {"$ref": "#/components/parameters/IdempotencyKey"}
    assert openapi["components"]["parameters"]["IdempotencyKey"]["in"] == "header"
    mutating = 0
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            documented = reference in operation.get("parameters", [])
            with_api_key = bool(operation.get("security"))  # not so: a delivery signed by Shopify
            if path.startswith("/v1/") and method in ("post", "put", "patch", "delete") and with_api_key:
                mutating += 1
                assert documented and {"409", "422"} <= set(operation["responses"]), (method, path)
            else:
                assert not documented, (method, path)
    assert mutating >= 15
