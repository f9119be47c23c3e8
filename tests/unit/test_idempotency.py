"""`Idempotency-Key`: the pure rules (what is the same request, what is kept) and the middleware's flow against an
in-memory store (claim, replay, 422, 409 while in flight, nothing kept for 5xx, exceptions, secrets)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.gateway.api.idempotency import Caller, IdempotencyMiddleware, bearer_token, document
from services.gateway.core import idempotency as rules
from services.gateway.core.idempotency import Existing, Outcome, StoredResponse
from services.gateway.core.security import issue_key

PROBLEM = "application/problem+json"


# --- the rules ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/v1/events", True),
        ("put", "/v1/segments/x", True),
        ("PATCH", "/v1/x", True),
        ("DELETE", "/v1/loyalty/rewards/r", True),
        ("GET", "/v1/segments", False),
        ("HEAD", "/v1/segments", False),
        ("OPTIONS", "/v1/segments", False),
        ("POST", "/admin/v1/merchants", False),
        ("POST", "/u/token", False),
        ("POST", "/v1", False),
    ],
)
def test_the_header_applies_to_mutating_merchant_calls_only(method: str, path: str, expected: bool) -> None:
    assert rules.applies(method, path) is expected


def test_keys_are_up_to_255_printable_ascii_characters() -> None:
    assert rules.key_problem(str(uuid.uuid4())) is None
    assert rules.key_problem("a" * 255) is None
    assert rules.key_problem("order 1234/retry:#2~") is None
    assert rules.key_problem("a" * 256) == "at most 255 characters"
    assert rules.key_problem("") == "must not be empty"
    for bad in ("tab\there", "ümlaut", " leading", "trailing ", "nl\n"):
        assert rules.key_problem(bad) is not None, bad


def test_the_fingerprint_is_method_path_query_and_body_with_json_compared_by_value() -> None:
    body = json.dumps({"b": [1, 2], "a": {"y": 1, "x": "ü"}}).encode()
    same = b'{"a":{"x":"\\u00fc","y":1},\n "b":[1,2]}'
    base = rules.fingerprint("POST", "/v1/events", b"", body)
    assert rules.fingerprint("post", "/v1/events", "", same) == base
    assert rules.fingerprint("PUT", "/v1/events", b"", body) != base
    assert rules.fingerprint("POST", "/v1/other", b"", body) != base
    assert rules.fingerprint("POST", "/v1/events", b"dry_run=1", body) != base
    assert rules.fingerprint("POST", "/v1/events", b"", body.replace(b"1", b"3")) != base
    assert rules.fingerprint("POST", "/v1/events", b"", b"[1,2]") != rules.fingerprint("POST", "/v1/events", b"", b"")
    # Not JSON: compared byte for byte; an empty body and whitespace are the same.
    assert rules.fingerprint("POST", "/v1/x", b"", b"a=1") != rules.fingerprint("POST", "/v1/x", b"", b"a=2")
    assert rules.fingerprint("DELETE", "/v1/x", b"", b"") == rules.fingerprint("DELETE", "/v1/x", b"", b" \n")


def test_only_answers_the_route_worked_out_are_kept_and_never_one_showing_an_api_key() -> None:
    json_type = [(b"content-type", b"application/json")]
    for status in (200, 201, 202, 204, 400, 404, 409, 412, 413, 422):
        assert rules.storable(status, json_type, b"{}", 2), status
    for status in (401, 403, 429, 500, 502, 503, 504):
        assert not rules.storable(status, json_type, b"{}", 2), status
    assert not rules.storable(200, json_type, b"{}", rules.MAX_STORED_BODY + 1)
    assert not rules.storable(200, [(b"Cache-Control", b"private, no-store")], b"{}", 2)
    token = issue_key("live").token
    shown = json.dumps({"api_key": token}).encode()
    assert rules.contains_api_key(shown) and not rules.storable(201, json_type, shown, len(shown))
    # Something shaped like a key but with a wrong checksum is no key (a prefix in a key list, a typo).
    lookalike = json.dumps({"prefix": token[:-1] + ("A" if token[-1] != "A" else "B")}).encode()
    assert not rules.contains_api_key(lookalike) and rules.storable(200, json_type, lookalike, len(lookalike))


def test_the_headers_that_matter_are_kept_and_a_replay_is_marked() -> None:
    raw = [
        (b"content-type", b"application/json"),
        (b"ETag", b'"v2"'),
        (b"location", b"/v1/segments/a"),
        (b"retry-after", b"3"),
        (b"set-cookie", b"x=1"),
        (b"x-request-id", b"abc"),
        (b"content-length", b"2"),
    ]
    kept = rules.kept_headers(raw)
    assert kept == [
        ["content-type", "application/json"],
        ["etag", '"v2"'],
        ["location", "/v1/segments/a"],
        ["retry-after", "3"],
    ]
    assert StoredResponse(201, kept, b"{}").replay_headers()["idempotent-replayed"] == "true"


def test_a_held_key_answers_by_fingerprint_then_by_whether_it_has_an_answer() -> None:
    answer = StoredResponse(200, [], b"{}")
    assert rules.decide(Existing("a", None), "b") is Outcome.MISMATCH
    assert rules.decide(Existing("a", answer), "b") is Outcome.MISMATCH
    assert rules.decide(Existing("a", None), "a") is Outcome.IN_FLIGHT
    assert rules.decide(Existing("a", answer), "a") is Outcome.REPLAY


def test_the_bearer_token_is_read_from_the_authorization_header() -> None:
    assert bearer_token({"headers": [(b"authorization", b"Bearer rk_test_abc")]}) == "rk_test_abc"
    assert bearer_token({"headers": [(b"authorization", b"bearer  rk_test_abc ")]}) == "rk_test_abc"
    assert bearer_token({"headers": [(b"authorization", b"Basic eDp5")]}) == ""
    assert bearer_token({"headers": []}) == ""


def test_every_mutating_v1_operation_documents_the_header_once() -> None:
    bearer = [{"HTTPBearer": []}]
    schema: dict[str, Any] = {
        "paths": {
            "/v1/segments": {
                "get": {"responses": {}, "security": bearer},
                "post": {"responses": {"409": {"description": "Exists."}}, "security": bearer},
            },
            "/v1/segments/{id}": {
                "put": {"parameters": [{"name": "id", "in": "path"}], "responses": {}, "security": bearer}
            },
            "/v1/webhooks/shop/{merchant_id}": {"post": {"responses": {}}},  # signed, no API key
            "/admin/v1/merchants": {"post": {"responses": {}, "security": bearer}},
        }
    }
    document(document(schema))
    reference = {"$ref": "#/components/parameters/IdempotencyKey"}
    assert schema["components"]["parameters"]["IdempotencyKey"]["name"] == "Idempotency-Key"
    post, put = schema["paths"]["/v1/segments"]["post"], schema["paths"]["/v1/segments/{id}"]["put"]
    assert post["parameters"] == [reference] and put["parameters"][1:] == [reference]
    assert "parameters" not in schema["paths"]["/v1/segments"]["get"]
    assert "parameters" not in schema["paths"]["/admin/v1/merchants"]["post"]
    assert "parameters" not in schema["paths"]["/v1/webhooks/shop/{merchant_id}"]["post"]
    assert post["responses"]["409"]["description"].startswith("Exists. A request with the same `Idempotency-Key`")
    assert {"409", "422"} <= set(put["responses"])


# --- the middleware against an in-memory store ----------------------------------------------------------------------


class MemoryStore:
    """The PostgreSQL store's semantics without expiry: one row per (merchant, key), owned while in flight."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        self.purged = 0

    async def claim(self, merchant_id: str, key: str, fingerprint: str, owner: uuid.UUID) -> bool:
        if (merchant_id, key) in self.rows:
            return False
        self.rows[(merchant_id, key)] = {"fingerprint": fingerprint, "owner": owner, "response": None}
        return True

    async def find(self, merchant_id: str, key: str) -> Existing | None:
        row = self.rows.get((merchant_id, key))
        return None if row is None else Existing(row["fingerprint"], row["response"])

    async def complete(self, merchant_id: str, key: str, owner: uuid.UUID, response: StoredResponse) -> None:
        row = self.rows.get((merchant_id, key))
        if row is not None and row["owner"] == owner:
            row.update(owner=None, response=response)

    async def release(self, merchant_id: str, key: str, owner: uuid.UUID) -> None:
        if self.rows.get((merchant_id, key), {}).get("owner") == owner:
            del self.rows[(merchant_id, key)]

    async def purge(self) -> int:
        self.purged += 1
        return 0


class Shop:
    """A tiny app behind the middleware: counts the effects of each route."""

    def __init__(self, throttle: Any = None) -> None:
        self.effects: list[tuple[str, bytes]] = []
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()
        self.store = MemoryStore()
        routes = [
            Route("/v1/things", self.create, methods=["POST"]),
            Route("/v1/things", self.list, methods=["GET"]),
            Route("/v1/things/{thing}", self.delete, methods=["DELETE"]),
            Route("/v1/slow", self.slow, methods=["POST"]),
            Route("/v1/down", self.down, methods=["POST"]),
            Route("/v1/boom", self.boom, methods=["POST"]),
            Route("/v1/keys", self.issue_key, methods=["POST"]),
            Route("/admin/v1/things", self.create, methods=["POST"]),
        ]
        self.app = IdempotencyMiddleware(Starlette(routes=routes), self.store, self.merchant_of, throttle=throttle)

    @staticmethod
    async def merchant_of(scope: dict[str, Any]) -> Caller | None:
        token = bearer_token(scope)
        return Caller(token.removeprefix("merchant-"), f"key-of-{token}") if token.startswith("merchant-") else None

    async def create(self, request: Request) -> Response:
        body = await request.body()
        self.effects.append(("create", body))
        return JSONResponse(
            {"n": len(self.effects), "echo": body.decode()},
            status_code=201,
            headers={"ETag": f'"v{len(self.effects)}"', "Location": f"/v1/things/{len(self.effects)}", "X-Other": "1"},
        )

    async def list(self, request: Request) -> Response:
        return JSONResponse({"n": len(self.effects)})

    async def delete(self, request: Request) -> Response:
        self.effects.append(("delete", request.path_params["thing"].encode()))
        return Response(status_code=204)

    async def slow(self, request: Request) -> Response:
        self.effects.append(("slow", await request.body()))
        self.entered.set()
        await self.gate.wait()
        return JSONResponse({"slow": True}, status_code=202)

    async def down(self, request: Request) -> Response:
        self.effects.append(("down", b""))
        return JSONResponse({"title": "down"}, status_code=503, headers={"Retry-After": "5"})

    async def boom(self, request: Request) -> Response:
        self.effects.append(("boom", b""))
        raise RuntimeError("bug")

    async def issue_key(self, request: Request) -> Response:
        self.effects.append(("key", b""))
        return JSONResponse({"api_key": issue_key("test").token}, status_code=201)

    def client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        return httpx.AsyncClient(transport=transport, base_url="http://shop")


def auth(merchant: str = "m1", key: str | None = "k-1") -> dict[str, str]:
    return {"Authorization": f"Bearer merchant-{merchant}"} | ({"Idempotency-Key": key} if key is not None else {})


async def test_a_retry_gets_the_first_answer_and_causes_no_second_effect() -> None:
    shop = Shop()
    async with shop.client() as http:
        first = await http.post("/v1/things", content=b'{"name": "a", "n": 1}', headers=auth())
        again = await http.post("/v1/things", content=b'{"n":1,"name":"a"}', headers=auth())
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content and again.json()["echo"] == '{"name": "a", "n": 1}'
    for header in ("content-type", "etag", "location"):
        assert again.headers[header] == first.headers[header], header
    assert "x-other" not in again.headers and again.headers["content-length"] == str(len(first.content))
    assert shop.effects == [("create", b'{"name": "a", "n": 1}')]  # the body reached the route intact, once


async def test_the_same_key_for_another_request_is_a_422_naming_the_header() -> None:
    shop = Shop()
    async with shop.client() as http:
        await http.post("/v1/things", json={"name": "a"}, headers=auth())
        other_body = await http.post("/v1/things", json={"name": "b"}, headers=auth())
        other_path = await http.delete("/v1/things/1", headers=auth())
        replay = await http.post("/v1/things", json={"name": "a"}, headers=auth())
    for refused in (other_body, other_path):
        assert refused.status_code == 422 and refused.headers["content-type"] == PROBLEM
        assert refused.json()["errors"] == [{"path": "Idempotency-Key", "message": rules.MISMATCH_MESSAGE}]
    assert replay.headers["idempotent-replayed"] == "true"
    assert len(shop.effects) == 1


async def test_while_the_first_request_runs_another_with_its_key_is_a_409_then_the_answer_is_replayed() -> None:
    shop = Shop()
    async with shop.client() as http:
        first = asyncio.create_task(http.post("/v1/slow", json={"x": 1}, headers=auth()))
        await shop.entered.wait()
        in_flight = await http.post("/v1/slow", json={"x": 1}, headers=auth())
        shop.gate.set()
        done = await first
        replay = await http.post("/v1/slow", json={"x": 1}, headers=auth())
    assert in_flight.status_code == 409 and in_flight.headers["retry-after"] == "1"
    assert in_flight.headers["content-type"] == PROBLEM and in_flight.json()["errors"][0]["path"] == "Idempotency-Key"
    assert done.status_code == 202 and replay.status_code == 202 and replay.json() == {"slow": True}
    assert replay.headers["idempotent-replayed"] == "true" and len(shop.effects) == 1


async def test_the_answer_is_kept_before_its_last_byte_goes_out() -> None:
    shop = Shop()
    seen: list[Existing | None] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            seen.append(await shop.store.find("m1", "k-1"))

    body = iter([{"type": "http.request", "body": b"{}", "more_body": False}])

    async def receive() -> dict[str, Any]:
        return next(body, {"type": "http.disconnect"})

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/things",
        "raw_path": b"/v1/things",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"authorization", b"Bearer merchant-m1"), (b"idempotency-key", b"k-1")],
    }
    await shop.app(scope, receive, send)
    assert seen[0] is not None and seen[0].response is not None and seen[0].response.status == 201


async def test_a_5xx_or_an_exception_keeps_nothing_so_a_retry_runs_again() -> None:
    shop = Shop()
    async with shop.client() as http:
        down = [await http.post("/v1/down", headers=auth(key="d")) for _ in range(2)]
        boom = [await http.post("/v1/boom", headers=auth(key="b")) for _ in range(2)]
    assert [r.status_code for r in down] == [503, 503] and "idempotent-replayed" not in down[1].headers
    assert [r.status_code for r in boom] == [500, 500]
    assert [effect for effect, _ in shop.effects] == ["down", "down", "boom", "boom"]
    assert shop.store.rows == {}


async def test_an_answer_showing_an_api_key_is_never_kept() -> None:
    shop = Shop()
    async with shop.client() as http:
        first = await http.post("/v1/keys", headers=auth())
    assert first.status_code == 201 and first.json()["api_key"].startswith("rk_test_")
    assert shop.store.rows == {}


async def test_reads_other_prefixes_calls_without_a_valid_api_key_and_calls_without_the_header_pass_through() -> None:
    shop = Shop()
    async with shop.client() as http:
        await http.post("/v1/things", json={}, headers=auth())
        listed = [await http.get("/v1/things", headers=auth(key="x" * 300)) for _ in range(2)]
        admin = [await http.post("/admin/v1/things", json={}, headers=auth()) for _ in range(2)]
        anonymous = [await http.post("/v1/things", json={}, headers={"Idempotency-Key": "k-1"}) for _ in range(2)]
        without = [await http.post("/v1/things", json={}, headers=auth(key=None)) for _ in range(2)]
    assert all(r.status_code == 200 and "idempotent-replayed" not in r.headers for r in listed)
    for response in admin + anonymous + without:
        assert response.status_code == 201 and "idempotent-replayed" not in response.headers
    assert len(shop.effects) == 7 and list(shop.store.rows) == [("m1", "k-1")]


async def test_keys_are_per_merchant_and_a_bad_key_is_a_422() -> None:
    shop = Shop()
    async with shop.client() as http:
        a = await http.post("/v1/things", json={"who": "a"}, headers=auth("a"))
        b = await http.post("/v1/things", json={"who": "b"}, headers=auth("b"))
        too_long = await http.post("/v1/things", json={}, headers=auth(key="k" * 256))
        longest = await http.post("/v1/things", json={}, headers=auth(key="k" * 255))
    assert a.status_code == b.status_code == 201 and "idempotent-replayed" not in b.headers
    assert too_long.status_code == 422 and too_long.json()["errors"] == [
        {"path": "Idempotency-Key", "message": "at most 255 characters"}
    ]
    assert longest.status_code == 201 and len(shop.effects) == 3


async def test_expired_keys_are_purged_at_most_once_an_interval() -> None:
    shop = Shop()
    async with shop.client() as http:
        for n in range(3):
            await http.post("/v1/things", json={}, headers=auth(key=f"k-{n}"))
    await asyncio.sleep(0)
    assert shop.store.purged == 1


async def test_a_route_that_raises_before_answering_gives_the_key_up() -> None:
    store = MemoryStore()

    async def crashing(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        raise RuntimeError("bug")

    app = IdempotencyMiddleware(crashing, store, Shop.merchant_of)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as http:
        with pytest.raises(RuntimeError, match="bug"):
            await http.post("/v1/things", json={}, headers=auth())
    assert store.rows == {}


async def test_an_answer_the_route_never_saw_costs_a_rate_limit_token_like_a_call() -> None:
    spent: list[Caller] = []

    def throttle(caller: Caller) -> Response | None:
        spent.append(caller)
        return JSONResponse({"title": "Too many requests"}, status_code=429) if len(spent) > 1 else None

    shop = Shop(throttle)
    async with shop.client() as http:
        first = await http.post("/v1/things", json={}, headers=auth())
        replay = await http.post("/v1/things", json={}, headers=auth())
        limited = await http.post("/v1/things", json={}, headers=auth())
    assert first.status_code == 201 and replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert limited.status_code == 429 and len(shop.effects) == 1
    # The replay and the refused call took a token each; the first took none here (its route's own check does).
    assert spent == [Caller("m1", "key-of-merchant-m1")] * 2
