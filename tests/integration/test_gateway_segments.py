"""The gateway in front of a real segments service (its routers served by uvicorn on a local port, on real
PostgreSQL): segments through `/v1` for the key's merchant only, scopes, the service's problems and `ETag`s passed
through unchanged, `If-Match`, cursor pages, the audience CSV streamed, and a 503 problem when segments is down."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from services.common.contract import load_contract
from services.common.metrics import KernelMetrics, new_registry
from services.common.service_app import Runtime, build_service_app
from services.common.settings import Settings
from services.gateway.bootstrap import SPEC as GATEWAY
from services.platform.infra import free_port
from services.segments.bootstrap import SPEC as SEGMENTS
from tests.gateway_support import ADMIN, PROBLEM, Gateway, running_gateway, serving
from tests.integration.test_segments import ACTIVE_BUYERS
from tests.segments_service import pool  # noqa: F401  (the migrated segments schema)

pytestmark = pytest.mark.integration

CHANGE = {key: value for key, value in ACTIVE_BUYERS.items() if key != "segment_id"}


@pytest.fixture
async def segments_url(pool: asyncpg.Pool, settings: Settings) -> AsyncIterator[str]:  # noqa: F811
    """The segments service's own routers behind a real HTTP server."""
    registry = new_registry()
    runtime = Runtime("segments", settings, load_contract(), registry, KernelMetrics.create(registry))
    runtime.pool = pool
    async with serving(SEGMENTS, runtime) as url:
        yield url


@pytest.fixture
async def gateway(infra, topics, segments_url: str) -> AsyncIterator[Gateway]:
    async with running_gateway(infra, segments_url=segments_url) as gateway:
        yield gateway


async def test_a_merchant_creates_reads_changes_and_deletes_a_segment(gateway: Gateway) -> None:
    http = gateway.http
    _, key = await gateway.merchant()

    created = await http.post("/v1/segments", json=ACTIVE_BUYERS, headers=key)
    assert created.status_code == 201, created.text
    assert created.headers["etag"] == '"v1"' and created.json()["version"] == 1
    assert created.json()["time_dependent"] is True
    again = await http.post("/v1/segments", json=ACTIVE_BUYERS, headers=key)
    assert again.status_code == 409 and again.headers["content-type"] == PROBLEM

    read = await http.get("/v1/segments/active-coffee", headers=key)
    assert read.status_code == 200 and read.headers["etag"] == '"v1"'
    assert read.json()["name"] == ACTIVE_BUYERS["name"] and read.json()["members"] == 0
    listed = await http.get("/v1/segments", headers=key)
    assert [s["segment_id"] for s in listed.json()["items"]] == ["active-coffee"]

    changed = await http.put(
        "/v1/segments/active-coffee", json={**CHANGE, "name": "Kaffee"}, headers={**key, "If-Match": '"v1"'}
    )
    assert changed.status_code == 200, changed.text
    assert changed.headers["etag"] == '"v2"' and changed.json()["name"] == "Kaffee"
    # Someone else's change in between: the stale ETag is refused with the service's 412, unchanged.
    stale = await http.put("/v1/segments/active-coffee", json=CHANGE, headers={**key, "If-Match": '"v1"'})
    assert stale.status_code == 412 and stale.headers["content-type"] == PROBLEM
    assert stale.json()["errors"] == [{"path": "If-Match", "message": "does not match the current version"}]
    unconditional = await http.put("/v1/segments/active-coffee", json=CHANGE, headers=key)
    assert unconditional.status_code == 200 and unconditional.headers["etag"] == '"v3"'

    versions = await http.get("/v1/segments/active-coffee/versions", headers=key)
    assert [v["version"] for v in versions.json()["items"]] == [3, 2, 1]
    valid = await http.post("/v1/segments/validate", json={"definition": ACTIVE_BUYERS["definition"]}, headers=key)
    assert valid.status_code == 200 and valid.json() == {"valid": True, "time_dependent": True}

    deleted = await http.delete("/v1/segments/active-coffee", headers=key)
    assert deleted.status_code == 204 and deleted.content == b""
    gone = await http.get("/v1/segments/active-coffee", headers=key)
    assert gone.status_code == 404 and gone.headers["content-type"] == PROBLEM
    assert (await http.get("/v1/segments", headers=key)).json() == {"items": []}


async def test_a_bad_definition_is_the_services_422_with_the_node_path(gateway: Gateway, segments_url: str) -> None:
    merchant_id, key = await gateway.merchant()
    bad = {
        **ACTIVE_BUYERS,
        "definition": {"op": "and", "of": [{"op": "performed", "event": "order.placed", "within_days": -3}]},
    }

    response = await gateway.http.post("/v1/segments", json=bad, headers=key)
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    assert "definition.of[0].within_days" in [e["path"] for e in response.json()["errors"]]
    async with httpx.AsyncClient(base_url=segments_url) as direct:
        at_service = await direct.post(f"/internal/v1/merchants/{merchant_id}/segments", json=bad)
    assert response.json() == at_service.json()  # passed through as the service said it

    checked = await gateway.http.post("/v1/segments/validate", json={"definition": bad["definition"]}, headers=key)
    assert checked.status_code == 422 and "definition.of[0].within_days" in checked.text
    # The gateway's own checks use the service's model: a merchant_id in the body is refused, by path.
    smuggled = await gateway.http.post("/v1/segments", json={**ACTIVE_BUYERS, "merchant_id": "other"}, headers=key)
    assert smuggled.status_code == 422 and [e["path"] for e in smuggled.json()["errors"]] == ["merchant_id"]


async def test_each_route_needs_its_scope(gateway: Gateway) -> None:
    merchant_id, key = await gateway.merchant()
    assert (await gateway.http.post("/v1/segments", json=ACTIVE_BUYERS, headers=key)).status_code == 201
    customers_only = await gateway.key(merchant_id, "customers:read")
    read_only = await gateway.key(merchant_id, "segments:read")

    for method, path, body in [
        ("GET", "/v1/segments", None),
        ("GET", "/v1/segments/active-coffee", None),
        ("GET", "/v1/segments/active-coffee/members", None),
        ("POST", "/v1/segments", {**ACTIVE_BUYERS, "segment_id": "other"}),
    ]:
        refused = await gateway.http.request(method, path, json=body, headers=customers_only)
        assert refused.status_code == 403 and refused.headers["content-type"] == PROBLEM, (method, path)
    assert (await gateway.http.get("/v1/segments/active-coffee", headers=read_only)).status_code == 200
    for method, path, body in [
        ("POST", "/v1/segments", {**ACTIVE_BUYERS, "segment_id": "other"}),
        ("PUT", "/v1/segments/active-coffee", CHANGE),
        ("DELETE", "/v1/segments/active-coffee", None),
    ]:
        refused = await gateway.http.request(method, path, json=body, headers=read_only)
        assert refused.status_code == 403 and "segments:write" in refused.json()["title"], (method, path)
    audience = await gateway.http.get("/v1/segments/active-coffee/audience?format=meta", headers=read_only)
    assert audience.status_code == 403 and "audiences:read" in audience.json()["title"]
    assert (await gateway.http.get("/v1/segments", headers={"Authorization": "Bearer rk_test_x"})).status_code == 401
    assert (await gateway.http.get("/v1/segments/active-coffee", headers=key)).json()["version"] == 1  # untouched


async def test_a_merchant_never_sees_or_touches_another_merchants_segment(gateway: Gateway, pool) -> None:  # noqa: F811
    b_id, b_key = await gateway.merchant()
    _, a_key = await gateway.merchant()
    assert (
        await gateway.http.post("/v1/segments", json={**ACTIVE_BUYERS, "segment_id": "vip"}, headers=b_key)
    ).is_success
    await pool.execute(
        "INSERT INTO profiles (merchant_id, customer_id, memberships) VALUES ($1, 'c-1', jsonb_build_object('vip', "
        "'2026-03-02T09:00:00+00:00'))",
        b_id,
    )

    for method, path, body in [
        ("GET", "/v1/segments/vip", None),
        ("GET", "/v1/segments/vip/versions", None),
        ("GET", "/v1/segments/vip/members", None),
        ("PUT", "/v1/segments/vip", CHANGE),
        ("DELETE", "/v1/segments/vip", None),
        ("GET", "/v1/customers/c-1/segments", None),
    ]:
        hidden = await gateway.http.request(method, path, json=body, headers=a_key)
        assert hidden.status_code == 404 and hidden.headers["content-type"] == PROBLEM, (method, path)
        assert b_id not in hidden.text and "Kaffee" not in hidden.text
    assert (await gateway.http.get("/v1/segments", headers=a_key)).json() == {"items": []}

    # B's segment is as it was, and A may use the same id for a segment of its own.
    own = await gateway.http.get("/v1/segments/vip", headers=b_key)
    assert own.status_code == 200 and own.json()["version"] == 1 and own.json()["members"] == 1
    assert (
        await gateway.http.post("/v1/segments", json={**ACTIVE_BUYERS, "segment_id": "vip"}, headers=a_key)
    ).is_success
    assert (await gateway.http.get("/v1/segments/vip", headers=a_key)).json()["members"] == 0
    mine = await gateway.http.get("/v1/customers/c-1/segments", headers=b_key)
    assert [s["segment_id"] for s in mine.json()["items"]] == ["vip"]


async def test_members_come_in_cursor_pages_and_the_audience_is_streamed(gateway: Gateway, pool) -> None:  # noqa: F811
    merchant_id, key = await gateway.merchant()
    assert (await gateway.http.post("/v1/segments", json=ACTIVE_BUYERS, headers=key)).status_code == 201
    # Memberships as the segments service's evaluation leaves them (its own tests cover how they get there).
    await pool.executemany(
        "INSERT INTO profiles (merchant_id, customer_id, memberships) "
        "VALUES ($1, $2, jsonb_build_object('active-coffee', '2026-03-02T09:00:00+00:00'))",
        [(merchant_id, f"c-{n}") for n in range(1, 6)],
    )

    seen, after, pages = [], None, 0
    while True:
        params = {"limit": 2} | ({"after": after} if after else {})
        page = await gateway.http.get("/v1/segments/active-coffee/members", params=params, headers=key)
        assert page.status_code == 200 and set(page.json()) == {"items", "next_cursor"}
        seen += [m["customer_id"] for m in page.json()["items"]]
        pages, after = pages + 1, page.json()["next_cursor"]
        if after is None:
            break
    assert seen == [f"c-{n}" for n in range(1, 6)] and pages == 3
    too_big = await gateway.http.get("/v1/segments/active-coffee/members?limit=5000", headers=key)
    assert too_big.status_code == 422 and too_big.json()["errors"][0]["path"] == "limit"

    csv = await gateway.http.get("/v1/segments/active-coffee/audience", params={"format": "google"}, headers=key)
    assert csv.status_code == 200, csv.text
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.headers["content-disposition"] == 'attachment; filename="active-coffee-google.csv"'
    assert csv.text.splitlines()[0] == "Email,Phone,First Name,Last Name,Country,Zip"
    unknown = await gateway.http.get("/v1/segments/nope/audience", params={"format": "meta"}, headers=key)
    assert unknown.status_code == 404 and unknown.headers["content-type"] == PROBLEM


async def test_the_segment_routes_are_documented(gateway: Gateway) -> None:
    paths = (await gateway.http.get("/openapi.json")).json()["paths"]
    expected = {
        "/v1/customers/{customer_id}/segments": {"get"},
        "/v1/customers/{customer_id}/segments/{segment_id}/explain": {"get"},
        "/v1/customers/{customer_id}/prediction": {"get"},
        "/v1/segments": {"get", "post"},
        "/v1/segments/validate": {"post"},
        "/v1/segments/{segment_id}": {"get", "put", "delete"},
        "/v1/segments/{segment_id}/versions": {"get"},
        "/v1/segments/{segment_id}/members": {"get"},
        "/v1/segments/{segment_id}/audience": {"get"},
        "/v1/segments/{segment_id}/audience-destination": {"get", "put", "delete"},
        "/v1/segments/{segment_id}/audience-destination/sync": {"post"},
        "/v1/kpis": {"get"},
        "/v1/kpis/cohorts": {"get"},
        "/v1/predictions": {"get"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths.get(path, {})), path
        for method in methods:
            operation = paths[path][method]
            assert operation["summary"] and operation["description"], (path, method)
            assert {"401", "403", "429"} <= set(operation["responses"]), (path, method)
    assert "ETag" in paths["/v1/segments/{segment_id}"]["get"]["responses"]["200"]["headers"]
    assert "text/csv" in paths["/v1/segments/{segment_id}/audience"]["get"]["responses"]["200"]["content"]


async def test_a_segments_service_that_is_down_is_a_503_problem(infra, topics) -> None:
    settings = Settings(
        KAFKA_BOOTSTRAP_SERVERS=infra.kafka,
        DATABASE_URL=infra.database_url,
        admin_token=ADMIN,
        env="test",
        segments_url=f"http://127.0.0.1:{free_port()}",
    )
    app = build_service_app(GATEWAY, settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
            _, key = await Gateway(http, app.state.runtime).merchant()
            listed = await http.get("/v1/segments", headers=key)
            created = await http.post("/v1/segments", json=ACTIVE_BUYERS, headers=key)
            csv = await http.get("/v1/segments/active-coffee/audience?format=meta", headers=key)
    for response in (listed, created, csv):
        assert response.status_code == 503 and response.headers["content-type"] == PROBLEM
        assert "segments" in response.json()["title"]
