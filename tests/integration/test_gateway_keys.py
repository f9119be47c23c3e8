"""API keys on real PostgreSQL: one uniform 401 for every bad key and 403 for every missing scope, the admin API
(issue with scopes and expiry, list, revoke, rotate with an overlap window), a merchant's own keys under /v1/keys
(merchant from the key, never more power than the calling key, never its last active key), the CLI, and no key
in any log line."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from typer.testing import CliRunner

from services.common.logs import JsonFormatter
from services.common.service_app import Runtime, build_service_app
from services.common.settings import Settings
from services.gateway.bootstrap import SPEC as GATEWAY
from services.gateway.core.security import _checksum, hash_key, issue_key, key_prefix, well_formed
from services.platform.cli import app as cli

ADMIN = "integration-admin-token-0123456789"
PROBLEM = "application/problem+json"
UNAUTHORIZED = {"type": "about:blank", "title": "Invalid or missing API key", "status": 401}


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter("gateway"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class Gateway:
    http: httpx.AsyncClient
    runtime: Runtime
    logs: Capture
    tokens: list[str] = field(default_factory=list)

    def seen(self, response: httpx.Response) -> httpx.Response:
        """Remember every key an answer shows, to check later that none reached the logs."""
        if response.headers.get("content-type") == "application/json" and "api_key" in response.text:
            self.tokens.append(response.json()["api_key"])
        return response

    async def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {ADMIN}"}
        return self.seen(await self.http.request(method, f"/admin/v1{path}", headers=headers, **kwargs))

    async def call(
        self, key: str | None, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = (headers or {}) | ({"Authorization": f"Bearer {key}"} if key is not None else {})
        return self.seen(await self.http.request(method, path, headers=headers, **kwargs))

    async def merchant(self) -> tuple[str, dict[str, Any]]:
        merchant_id = f"m-{uuid.uuid4().hex[:10]}"
        created = await self.admin("POST", "/merchants", json={"merchant_id": merchant_id, "name": "Shop"})
        assert created.status_code == 201, created.text
        return merchant_id, created.json()

    async def issue(self, merchant_id: str, **body: Any) -> dict[str, Any]:
        issued = await self.admin("POST", f"/merchants/{merchant_id}/keys", json=body)
        assert issued.status_code == 201, issued.text
        return issued.json()

    async def works(self, key: str) -> bool:
        """Whether the key gets past authentication (an empty batch is then a 422 or, lacking the scope, a 403)."""
        response = await self.call(key, "POST", "/v1/events", json={"events": []})
        assert response.status_code in (401, 403, 422), response.text
        return response.status_code != 401


async def stored_anywhere(pool: asyncpg.Pool, token: str) -> list[str]:
    """The gateway's tables holding the key in any column (as text, or as bytes in a bytea)."""
    tables = await pool.fetch("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    found = []
    for table in [t["tablename"] for t in tables]:
        if await pool.fetchval(
            f'SELECT count(*) FROM "{table}" t WHERE strpos(t::text, $1) > 0 OR strpos(t::text, $2) > 0',
            token,
            token.encode().hex(),
        ):
            found.append(table)
    return found


@pytest.fixture
async def gateway(infra, topics) -> AsyncIterator[Gateway]:
    settings = Settings(
        KAFKA_BOOTSTRAP_SERVERS=infra.kafka, DATABASE_URL=infra.database_url, admin_token=ADMIN, env="test"
    )
    app = build_service_app(GATEWAY, settings)
    async with app.router.lifespan_context(app):
        root = logging.getLogger()
        capture, level = Capture(), root.level
        root.addHandler(capture)
        root.setLevel(logging.DEBUG)
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
                gateway = Gateway(http, app.state.runtime, capture)
                yield gateway
        finally:
            root.removeHandler(capture)
            root.setLevel(level)
    for token in gateway.tokens:
        secret = token[len(key_prefix(token)) :]
        leaked = [line for line in capture.lines if token in line or secret in line]
        assert leaked == [], "an API key reached the logs"


async def test_every_bad_key_gets_the_same_401_and_the_key_never_reaches_the_logs(gateway: Gateway) -> None:
    merchant_id, created = await gateway.merchant()
    good = created["api_key"]
    revoked = await gateway.issue(merchant_id, label="to revoke")
    assert (await gateway.admin("DELETE", f"/keys/{revoked['key']['key_id']}")).status_code == 200
    expired = await gateway.issue(merchant_id, expires_at=(datetime.now(UTC) + timedelta(days=1)).isoformat())
    await gateway.runtime.pool.execute(
        "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE key_id = $1",
        uuid.UUID(expired["key"]["key_id"]),
    )
    rotated_away = await gateway.issue(merchant_id, label="rotated with no overlap")
    rotation = await gateway.admin("POST", f"/keys/{rotated_away['key']['key_id']}/rotate", json={"overlap_hours": 0})
    assert rotation.status_code == 201, rotation.text

    same_prefix_other_secret = good[:16] + "x" * 14  # the stored prefix, then a secret of the right length
    same_prefix_other_secret += _checksum(same_prefix_other_secret)
    bad = {
        "missing": None,
        "empty": "",
        "malformed": "rk_test_x",
        "wrong checksum": good[:-1] + ("A" if good[-1] != "A" else "B"),
        "unknown": issue_key("test").token,
        "known prefix, other secret": same_prefix_other_secret,
        "revoked": revoked["api_key"],
        "expired": expired["api_key"],
        "rotated, overlap over": rotated_away["api_key"],
        "the admin token": ADMIN,
    }
    gateway.tokens += [key for key in bad.values() if key and well_formed(key)]  # none of them may be logged either
    for case, key in bad.items():
        for method, path in (("GET", "/v1/keys"), ("POST", "/v1/events")):
            response = await gateway.call(key, method, path, json={"events": []})
            assert response.status_code == 401, (case, path)
            assert response.json() == UNAUTHORIZED and response.headers["content-type"] == PROBLEM, case
            assert response.headers["www-authenticate"] == "Bearer", case
    basic = await gateway.http.get("/v1/keys", headers={"Authorization": f"Basic {good}"})
    assert basic.status_code == 401 and basic.json() == UNAUTHORIZED
    assert (await gateway.call(good, "GET", "/v1/keys")).status_code == 200

    # Only the hash and the prefix are stored.
    row = await gateway.runtime.pool.fetchrow("SELECT * FROM api_keys WHERE prefix = $1", key_prefix(good))
    assert row["key_hash"] == hash_key(good) and await stored_anywhere(gateway.runtime.pool, good) == []
    # The capture works (so the fixture's check that no key reached the logs is not vacuous), and the audit lines
    # name the key by id and prefix.
    issued = [json.loads(line) for line in gateway.logs.lines if "api key issued" in line]
    assert key_prefix(good) in {line["key_prefix"] for line in issued}


async def test_a_missing_scope_is_one_403_form_on_every_route(gateway: Gateway) -> None:
    merchant_id, created = await gateway.merchant()
    events_only = (await gateway.issue(merchant_id, scopes=["events:write"]))["api_key"]
    manage_only = (await gateway.issue(merchant_id, scopes=["keys:manage"]))["api_key"]
    refused = [
        (await gateway.call(events_only, "GET", "/v1/keys"), "keys:manage"),
        (await gateway.call(manage_only, "POST", "/v1/events", json={"events": []}), "events:write"),
        (await gateway.call(manage_only, "GET", "/v1/customers/c-1/loyalty"), "loyalty:read"),
    ]
    for response, scope in refused:
        assert response.status_code == 403 and response.headers["content-type"] == PROBLEM
        assert response.json() == {
            "type": "about:blank",
            "title": f"This API key lacks the scope {scope}",
            "status": 403,
        }
    # Authentication comes first: a revoked key with the scope is a 401, not a 403.
    keys = (await gateway.call(manage_only, "GET", "/v1/keys")).json()["items"]
    events_key = next(k for k in keys if k["scopes"] == ["events:write"])
    assert (await gateway.call(created["api_key"], "DELETE", f"/v1/keys/{events_key['key_id']}")).status_code == 200
    assert (await gateway.call(events_only, "GET", "/v1/keys")).json() == UNAUTHORIZED


async def test_the_operator_issues_lists_revokes_and_rotates_keys(gateway: Gateway) -> None:
    merchant_id, created = await gateway.merchant()
    first = created["key"]
    assert created["api_key"].startswith("rk_test_") and first["prefix"] == key_prefix(created["api_key"])
    assert "keys:manage" in first["scopes"] and first["status"] == "active" and first["expires_at"] is None

    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    plugin = await gateway.issue(
        merchant_id,
        scopes=["events:write", "customers:read", "events:write"],
        environment="live",
        label="shop plugin",
        expires_at=expires.isoformat(),
    )
    token, key = plugin["api_key"], plugin["key"]
    assert token.startswith("rk_live_") and key["environment"] == "live" and key["label"] == "shop plugin"
    assert key["scopes"] == ["events:write", "customers:read"] and datetime.fromisoformat(key["expires_at"]) == expires

    for body, path in [
        ({"scopes": ["events:write", "events:delete"]}, "scopes"),
        ({"scopes": []}, "scopes"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"expires_at": "2099-01-01T00:00:00"}, "expires_at"),  # no time zone
        ({"environment": "staging"}, "environment"),
        ({"merchant_id": "someone-else"}, "merchant_id"),
    ]:
        refused = await gateway.admin("POST", f"/merchants/{merchant_id}/keys", json=body)
        assert refused.status_code == 422 and path in {e["path"] for e in refused.json()["errors"]}, body
    assert (await gateway.admin("POST", "/merchants/m-nobody-here/keys", json={})).status_code == 404
    assert (await gateway.admin("GET", "/merchants/m-nobody-here/keys")).status_code == 404

    assert await gateway.works(token)
    listed = await gateway.admin("GET", f"/merchants/{merchant_id}/keys")
    items = listed.json()["items"]
    assert [k["key_id"] for k in items] == [key["key_id"], first["key_id"]]  # newest first
    assert items[0]["last_used_at"] is not None and items[1]["last_used_at"] is None
    assert "hash" not in listed.text and hash_key(token) not in listed.text and token not in listed.text

    rotated = await gateway.admin("POST", f"/keys/{key['key_id']}/rotate", json={"overlap_hours": 2})
    assert rotated.status_code == 201, rotated.text
    new, previous = rotated.json()["key"], rotated.json()["previous"]
    new_token = rotated.json()["api_key"]
    assert new_token.startswith("rk_live_") and new_token != token
    assert (new["scopes"], new["label"], new["expires_at"]) == (key["scopes"], key["label"], key["expires_at"])
    assert new["rotated_from"] == key["key_id"] and previous["replaced_by"] == new["key_id"]
    overlap_end = datetime.fromisoformat(previous["expires_at"]) - datetime.now(UTC)
    assert timedelta(hours=1, minutes=59) < overlap_end <= timedelta(hours=2)
    assert await gateway.works(token) and await gateway.works(new_token)  # both during the overlap

    again = await gateway.admin("POST", f"/keys/{key['key_id']}/rotate")
    assert again.status_code == 409 and new["key_id"] in again.json()["title"]
    for body in ({"overlap_hours": 721}, {"overlap_hours": -1}, {"overlap": 3}):
        assert (await gateway.admin("POST", f"/keys/{new['key_id']}/rotate", json=body)).status_code == 422

    revoked = await gateway.admin("DELETE", f"/keys/{new['key_id']}")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    revoked_again = await gateway.admin("DELETE", f"/keys/{new['key_id']}")
    assert revoked_again.json()["revoked_at"] == revoked.json()["revoked_at"]  # unchanged
    assert not await gateway.works(new_token) and await gateway.works(token)
    assert (await gateway.admin("POST", f"/keys/{new['key_id']}/rotate")).status_code == 409

    for method, path in (("DELETE", f"/keys/{uuid.uuid4()}"), ("POST", f"/keys/{uuid.uuid4()}/rotate")):
        assert (await gateway.admin(method, path)).status_code == 404
    assert (await gateway.admin("DELETE", "/keys/not-a-uuid")).status_code == 422

    # The operator may revoke a merchant's last key.
    assert (await gateway.admin("DELETE", f"/keys/{first['key_id']}")).status_code == 200
    assert (await gateway.admin("DELETE", f"/keys/{key['key_id']}")).status_code == 200
    merchants, after = [], None
    while True:
        page = (await gateway.admin("GET", "/merchants", params={"limit": 200} | ({"after": after} or {}))).json()
        merchants += page["items"]
        if not (after := page["next_after"]):
            break
    assert {"merchant_id": merchant_id, "name": "Shop", "active_keys": 0} in [
        {k: m[k] for k in ("merchant_id", "name", "active_keys")} for m in merchants
    ]

    for headers in ({}, {"Authorization": f"Bearer {token}"}, {"Authorization": f"Bearer {ADMIN}x"}):
        refused = await gateway.http.get("/admin/v1/merchants", headers=headers)
        assert refused.status_code == 401 and refused.json() == UNAUTHORIZED


async def test_a_merchant_manages_its_own_keys_and_never_more(gateway: Gateway) -> None:
    merchant_id, created = await gateway.merchant()
    full = created["api_key"]
    other_id, other = await gateway.merchant()
    plugin = await gateway.issue(merchant_id, scopes=["events:write"], label="plugin")
    manager = await gateway.issue(merchant_id, scopes=["keys:manage", "events:write"], label="manager")

    listed = await gateway.call(full, "GET", "/v1/keys")
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert {k["key_id"] for k in items} == {created["key"]["key_id"], plugin["key"]["key_id"], manager["key"]["key_id"]}
    assert [k["current"] for k in items if k["current"]] == [True] and items[-1]["current"]
    assert "hash" not in listed.text and other["key"]["key_id"] not in listed.text

    # Another merchant's key is a 404 like a missing one; the merchant comes from the key, not the body.
    for key_id in (plugin["key"]["key_id"], uuid.uuid4()):
        for method, path in (("POST", f"/v1/keys/{key_id}/rotate"), ("DELETE", f"/v1/keys/{key_id}")):
            response = await gateway.call(other["api_key"], method, path)
            assert response.status_code == 404 and response.json()["title"] == "No such key"
    smuggled = await gateway.call(
        full, "POST", f"/v1/keys/{plugin['key']['key_id']}/rotate", json={"merchant_id": other_id}
    )
    assert smuggled.status_code == 422

    # A key manages only keys with no more scopes than its own.
    upward = await gateway.call(manager["api_key"], "POST", f"/v1/keys/{created['key']['key_id']}/rotate")
    assert upward.status_code == 403 and upward.json()["title"].startswith("This API key lacks the scope ")
    assert (await gateway.call(manager["api_key"], "DELETE", f"/v1/keys/{created['key']['key_id']}")).status_code == 403
    sideways = await gateway.call(manager["api_key"], "POST", f"/v1/keys/{plugin['key']['key_id']}/rotate")
    assert sideways.status_code == 201 and sideways.json()["key"]["scopes"] == ["events:write"]
    assert await gateway.works(plugin["api_key"]) and await gateway.works(sideways.json()["api_key"])

    # Rotating itself with no overlap: the old key stops at once, the new one works.
    own = await gateway.call(full, "POST", f"/v1/keys/{created['key']['key_id']}/rotate", json={"overlap_hours": 0})
    assert own.status_code == 201, own.text
    new_full = own.json()["api_key"]
    assert (await gateway.call(full, "GET", "/v1/keys")).json() == UNAUTHORIZED
    mine = {k["key_id"]: k for k in (await gateway.call(new_full, "GET", "/v1/keys")).json()["items"]}
    assert mine[created["key"]["key_id"]]["status"] == "expired" and mine[own.json()["key"]["key_id"]]["current"]

    # Never the last active key: the other merchant has one key; after a rotation it may revoke the old one (itself).
    other_key_id = other["key"]["key_id"]
    last = await gateway.call(other["api_key"], "DELETE", f"/v1/keys/{other_key_id}")
    assert last.status_code == 409 and "last active key" in last.json()["title"]
    replacement = await gateway.call(other["api_key"], "POST", f"/v1/keys/{other_key_id}/rotate")
    assert replacement.status_code == 201
    assert (await gateway.call(other["api_key"], "DELETE", f"/v1/keys/{other_key_id}")).status_code == 200
    assert not await gateway.works(other["api_key"])
    new_other = replacement.json()
    refused = await gateway.call(new_other["api_key"], "DELETE", f"/v1/keys/{new_other['key']['key_id']}")
    assert refused.status_code == 409


async def test_concurrent_rotations_of_one_key_give_one_replacement(gateway: Gateway) -> None:
    merchant_id, created = await gateway.merchant()
    path = f"/keys/{created['key']['key_id']}/rotate"
    answers = await asyncio.gather(*(gateway.admin("POST", path) for _ in range(5)))
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409, 409]
    keys = (await gateway.admin("GET", f"/merchants/{merchant_id}/keys")).json()["items"]
    assert len(keys) == 2


async def test_the_cli_lists_issues_rotates_and_revokes(gateway: Gateway, infra) -> None:
    merchant_id, created = await gateway.merchant()
    runner = CliRunner()
    env = {"DATABASE_URL": infra.database_url}

    async def run(*args: str) -> Any:
        return await asyncio.to_thread(runner.invoke, cli, ["merchant", *args], env=env)

    issued = await run(
        "key-issue",
        merchant_id,
        "--scope",
        "events:write",
        "--scope",
        "customers:read",
        "--label",
        "cli",
        "--expires-in-days",
        "7",
    )
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip()
    gateway.tokens.append(token)
    assert token.startswith("rk_live_") and "\n" not in token and token not in issued.stderr
    assert await gateway.works(token)
    unknown = await run("key-issue", merchant_id, "--scope", "everything")
    assert unknown.exit_code == 2 and "unknown scope" in unknown.output

    listed = await run("keys", merchant_id)
    assert listed.exit_code == 0 and key_prefix(token) in listed.stdout and created["key"]["prefix"] in listed.stdout
    assert token not in listed.stdout and hash_key(token) not in listed.stdout
    key_id = next(line.split()[0] for line in listed.stdout.splitlines() if key_prefix(token) in line)
    assert (await run("keys", "m-nobody-here")).exit_code == 1
    merchants = await run("list")
    assert merchants.exit_code == 0 and merchant_id in merchants.stdout

    rotated = await run("key-rotate", key_id, "--overlap-hours", "1")
    assert rotated.exit_code == 0, rotated.output
    new_token = rotated.stdout.strip()
    gateway.tokens.append(new_token)
    assert new_token.startswith("rk_live_") and await gateway.works(new_token) and await gateway.works(token)
    assert "keeps working until" in rotated.stderr
    again = await run("key-rotate", key_id)
    assert again.exit_code == 1 and "rotated already" in again.stderr

    revoked = await run("key-revoke", key_id)
    assert revoked.exit_code == 0 and key_prefix(token) in revoked.stdout
    assert not await gateway.works(token) and await gateway.works(new_token)
    assert (await run("key-revoke", str(uuid.uuid4()))).exit_code == 1

    conn = await asyncpg.connect(infra.database_url)
    try:
        stored = await conn.fetch("SELECT key_hash FROM gateway.api_keys WHERE merchant_id = $1", merchant_id)
    finally:
        await conn.close()
    assert {hash_key(token), hash_key(new_token)} <= {r["key_hash"] for r in stored}


async def test_an_answer_showing_a_key_is_never_cached_nor_kept_for_idempotency(gateway: Gateway) -> None:
    """`Cache-Control: no-store` on every answer with a key; an `Idempotency-Key` rotation is not replayed (which
    would keep the new key in the database): a retry runs again and is told the key was rotated already."""
    merchant_id = f"m-{uuid.uuid4().hex[:10]}"
    created = await gateway.admin("POST", "/merchants", json={"merchant_id": merchant_id, "name": "Shop"})
    issued = await gateway.admin("POST", f"/merchants/{merchant_id}/keys", json={"label": "x"})
    rotated = await gateway.admin("POST", f"/keys/{issued.json()['key']['key_id']}/rotate")
    for answer in (created, issued, rotated):
        assert answer.status_code == 201 and answer.headers["cache-control"] == "no-store"
    listed = await gateway.admin("GET", f"/merchants/{merchant_id}/keys")
    assert "cache-control" not in listed.headers

    token, key_id = created.json()["api_key"], created.json()["key"]["key_id"]
    headers = {"Idempotency-Key": f"rotate-{uuid.uuid4()}"}
    first = await gateway.call(token, "POST", f"/v1/keys/{key_id}/rotate", headers=headers)
    assert first.status_code == 201 and first.headers["cache-control"] == "no-store"
    retry = await gateway.call(token, "POST", f"/v1/keys/{key_id}/rotate", headers=headers)
    assert retry.status_code == 409 and first.json()["api_key"] not in retry.text
    for shown in (token, issued.json()["api_key"], rotated.json()["api_key"], first.json()["api_key"]):
        assert await stored_anywhere(gateway.runtime.pool, shown) == []
