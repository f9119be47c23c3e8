"""`Idempotency-Key` on every mutating `/v1` call: an ASGI middleware in front of the gateway's routes.

The flow of one POST/PUT/PATCH/DELETE under `/v1` that carries the header and a valid API key:

1. *claim*: `INSERT … ON CONFLICT DO UPDATE … WHERE <expired or abandoned>` of `(merchant, key)` with the request's
   fingerprint and a fresh owner id. The row itself is the lock: of any number of concurrent requests with the key,
   exactly one claims it; a key older than 24 h, or held by a request that died (`IN_FLIGHT_TIMEOUT`), is taken over.
2. whoever did not claim it reads the row: another fingerprint → 422, no answer yet → 409 at once (as Stripe; no
   waiting, so no request ever holds a database connection or a worker while another runs), an answer → replayed.
3. the owner runs the route; its answer is saved *before* the last body chunk goes out (so a client that has the
   answer can never see a 409 for it), or the row is deleted when the answer must not be kept (5xx, 401/403/429,
   one showing an API key, an exception, a cancelled request) so that a retry runs again.

The merchant is resolved here from `Authorization` with the same adapter functions `current_merchant` uses (the
route checks the key again, with its scope, throttle and `last_used_at`). Without a valid key the header is ignored
and the route answers 401. An answer given here (replay, 409, 422) takes a token of the key's rate limit, as the
route would have. Neither the API key nor its hash is stored or logged: rows are keyed by merchant id.

Installed by the gateway's composition root through the kernel's `ServiceSpec.configure_app` hook (`install`),
which wraps the app's router and documents the header in the OpenAPI document.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg
from fastapi import FastAPI, HTTPException
from starlette.responses import Response
from starlette.routing import get_route_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.http import problem
from services.common.service_app import Runtime
from services.gateway.adapters.merchants import find_key
from services.gateway.api.deps import throttle
from services.gateway.core import idempotency as rules
from services.gateway.core.idempotency import Existing, Outcome, StoredResponse
from services.gateway.core.security import matches, well_formed

log = logging.getLogger(__name__)

#: How often (per process) keys older than `rules.TTL` are deleted; between purges they are merely ignored.
PURGE_INTERVAL_S = 600.0
#: How often a claim is retried when the row it lost to vanished meanwhile (its request ended in a 5xx).
CLAIM_ATTEMPTS = 3


class Store(Protocol):
    async def claim(self, merchant_id: str, key: str, fingerprint: str, owner: uuid.UUID) -> bool: ...
    async def find(self, merchant_id: str, key: str) -> Existing | None: ...
    async def complete(self, merchant_id: str, key: str, owner: uuid.UUID, response: StoredResponse) -> None: ...
    async def release(self, merchant_id: str, key: str, owner: uuid.UUID) -> None: ...
    async def purge(self) -> int: ...


class PostgresStore:
    """The `idempotency_keys` table of migration 0003; the pool is looked up per call (it exists once started)."""

    def __init__(self, pool: Callable[[], asyncpg.Pool]) -> None:
        self._pool = pool

    async def claim(self, merchant_id: str, key: str, fingerprint: str, owner: uuid.UUID) -> bool:
        row = await self._pool().fetchrow(
            """INSERT INTO idempotency_keys AS k (merchant_id, idempotency_key, fingerprint, owner)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (merchant_id, idempotency_key) DO UPDATE
                  SET fingerprint = EXCLUDED.fingerprint, owner = EXCLUDED.owner, created_at = now(),
                      locked_at = now(), status = NULL, headers = NULL, body = NULL
                WHERE k.created_at < now() - $5::interval
                   OR (k.status IS NULL AND k.locked_at < now() - $6::interval)
               RETURNING owner""",
            merchant_id,
            key,
            fingerprint,
            owner,
            rules.TTL,
            rules.IN_FLIGHT_TIMEOUT,
        )
        return row is not None

    async def find(self, merchant_id: str, key: str) -> Existing | None:
        row = await self._pool().fetchrow(
            "SELECT fingerprint, status, headers, body FROM idempotency_keys "
            "WHERE merchant_id = $1 AND idempotency_key = $2 AND created_at >= now() - $3::interval",
            merchant_id,
            key,
            rules.TTL,
        )
        if row is None:
            return None
        stored = None if row["status"] is None else StoredResponse(row["status"], row["headers"], row["body"])
        return Existing(row["fingerprint"], stored)

    async def complete(self, merchant_id: str, key: str, owner: uuid.UUID, response: StoredResponse) -> None:
        await self._pool().execute(
            "UPDATE idempotency_keys SET status = $4, headers = $5, body = $6, owner = NULL "
            "WHERE merchant_id = $1 AND idempotency_key = $2 AND owner = $3",
            merchant_id,
            key,
            owner,
            response.status,
            response.headers,
            response.body,
        )

    async def release(self, merchant_id: str, key: str, owner: uuid.UUID) -> None:
        await self._pool().execute(
            "DELETE FROM idempotency_keys WHERE merchant_id = $1 AND idempotency_key = $2 AND owner = $3",
            merchant_id,
            key,
            owner,
        )

    async def purge(self) -> int:
        status = await self._pool().execute(
            "DELETE FROM idempotency_keys WHERE created_at < now() - $1::interval", rules.TTL
        )
        return int(status.split()[-1])


def bearer_token(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""


@dataclass(frozen=True)
class Caller:
    """Whose call it is: the key's merchant (the scope of idempotency keys) and the key (for its rate limit)."""

    merchant_id: str
    key_id: str


MerchantOf = Callable[[Scope], Awaitable[Caller | None]]
#: An answer of the middleware's own (a replay, a 409 or 422) costs the key a token like a call of the route would;
#: returns the 429 when it has none left.
Throttle = Callable[[Caller], Response | None]


def merchant_resolver(pool: Callable[[], asyncpg.Pool]) -> MerchantOf:
    """The caller behind a valid, unrevoked, unexpired API key (as `deps.current_merchant` decides), else None."""

    async def resolve(scope: Scope) -> Caller | None:
        token = bearer_token(scope)
        if not well_formed(token):
            return None
        record = await find_key(pool(), token)
        if record is None or not matches(token, record.key_hash) or record.revoked_at is not None:
            return None
        if record.expires_at is not None and record.expires_at <= datetime.now(UTC):
            return None
        return Caller(record.merchant_id, str(record.key_id))

    return resolve


def key_throttle(runtime: Runtime) -> Throttle:
    """The routes' own per-key token buckets (`deps.throttle`)."""

    def check(caller: Caller) -> Response | None:
        try:
            throttle(runtime.extras["key_limits"], f"key:{caller.key_id}", datetime.now(UTC))
        except HTTPException as exc:
            return problem(exc.status_code, str(exc.detail), headers=exc.headers)
        return None

    return check


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when the client hung up first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _problem(status: int, title: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return problem(status, title, errors=[{"path": rules.HEADER, "message": message}], headers=headers)


class IdempotencyMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        store: Store,
        merchant_of: MerchantOf,
        *,
        throttle: Throttle | None = None,
        purge_interval_s: float = PURGE_INTERVAL_S,
    ) -> None:
        self.app = app
        self.store = store
        self.merchant_of = merchant_of
        self.throttle = throttle
        self.purge_interval_s = purge_interval_s
        self._next_purge = time.monotonic()
        self._purges: set[asyncio.Task[Any]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not rules.applies(scope["method"], get_route_path(scope)):
            await self.app(scope, receive, send)
            return
        key = _header(scope, rules.HEADER.lower().encode())
        caller = await self.merchant_of(scope) if key is not None else None
        if key is None or caller is None:
            await self.app(scope, receive, send)  # no header, or no valid key: the route decides (401)
            return
        merchant_id = caller.merchant_id
        wrong = rules.key_problem(key)
        if wrong is not None:
            await self._own(caller, _problem(422, "Invalid Idempotency-Key", wrong))(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            return
        fingerprint = rules.fingerprint(scope["method"], get_route_path(scope), scope.get("query_string", b""), body)
        self._maybe_purge()

        owner = uuid.uuid4()
        for _ in range(CLAIM_ATTEMPTS):
            if await self.store.claim(merchant_id, key, fingerprint, owner):
                await self._run(scope, _replaying(body, receive), send, merchant_id, key, owner)
                return
            existing = await self.store.find(merchant_id, key)
            if existing is not None:
                await self._own(caller, self._answer(existing, fingerprint))(scope, receive, send)
                return
        # Claimed and released under us each time: a request with the key keeps failing right now.
        busy = _problem(409, "Idempotency-Key in use", rules.IN_FLIGHT_MESSAGE, {"Retry-After": "1"})
        await self._own(caller, busy)(scope, receive, send)

    def _own(self, caller: Caller, answer: Response) -> Response:
        """An answer the route never saw: rate-limited like the route (else a 429 instead)."""
        limited = self.throttle(caller) if self.throttle is not None else None
        return limited if limited is not None else answer

    @staticmethod
    def _answer(existing: Existing, fingerprint: str) -> Response:
        outcome = rules.decide(existing, fingerprint)
        if outcome is Outcome.MISMATCH:
            return _problem(422, "Idempotency-Key reused for another request", rules.MISMATCH_MESSAGE)
        if outcome is Outcome.IN_FLIGHT:
            return _problem(409, "Idempotency-Key in use", rules.IN_FLIGHT_MESSAGE, {"Retry-After": "1"})
        stored = existing.response
        assert stored is not None
        return Response(stored.body, status_code=stored.status, headers=stored.replay_headers())

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, merchant_id: str, key: str, owner: uuid.UUID
    ) -> None:
        """Run the route as the key's owner; keep its answer before the last chunk goes out, or give the key up."""
        status, size, settled = 0, 0, False
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, headers, size, settled
            if message["type"] == "http.response.start":
                status, headers = message["status"], message.get("headers", [])
            elif message["type"] == "http.response.body" and not settled:
                chunk = message.get("body", b"")
                size += len(chunk)
                if size <= rules.MAX_STORED_BODY:
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    settled = True
                    await self._settle(merchant_id, key, owner, status, headers, chunks, size)
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            if not settled:  # an exception, a cancelled request, or an answer never finished: a retry runs again
                await _release_quietly(self.store, merchant_id, key, owner)

    async def _settle(
        self,
        merchant_id: str,
        key: str,
        owner: uuid.UUID,
        status: int,
        headers: list[tuple[bytes, bytes]],
        chunks: list[bytes],
        size: int,
    ) -> None:
        """Keep the answer, or give the key up; a failure here never costs the client its answer."""
        body = b"".join(chunks)
        if not rules.storable(status, headers, body, size):
            await _release_quietly(self.store, merchant_id, key, owner)
            return
        try:
            await self.store.complete(
                merchant_id, key, owner, StoredResponse(status, rules.kept_headers(headers), body)
            )
        except Exception as exc:
            log.warning("keeping an idempotent answer failed", extra={"merchant_id": merchant_id, "error": repr(exc)})
            await _release_quietly(self.store, merchant_id, key, owner)

    def _maybe_purge(self) -> None:
        now = time.monotonic()
        if now < self._next_purge:
            return
        self._next_purge = now + self.purge_interval_s
        task = asyncio.create_task(self._purge(), name="idempotency-purge")
        self._purges.add(task)
        task.add_done_callback(self._purges.discard)

    async def _purge(self) -> None:
        try:
            purged = await self.store.purge()
        except Exception as exc:  # the next interval tries again; expired keys are ignored meanwhile
            log.warning("purging expired idempotency keys failed", extra={"error": repr(exc)})
        else:
            if purged:
                log.info("expired idempotency keys purged", extra={"purged": purged})


def _replaying(body: bytes, receive: Receive) -> Receive:
    """The body already read, once; then the client's own messages (a disconnect)."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _release_quietly(store: Store, merchant_id: str, key: str, owner: uuid.UUID) -> None:
    """Give a key up even from a cancelled request; if that fails too, `IN_FLIGHT_TIMEOUT` frees it."""
    try:
        await asyncio.shield(store.release(merchant_id, key, owner))
    except asyncio.CancelledError:
        raise  # cancelled meanwhile: the shielded release still runs
    except Exception as exc:
        log.warning("releasing an idempotency key failed", extra={"merchant_id": merchant_id, "error": repr(exc)})


# --- OpenAPI -------------------------------------------------------------------------------------------------------

PARAMETER: dict[str, Any] = {
    "name": rules.HEADER,
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": rules.MAX_KEY_LENGTH},
    "description": (
        "Makes a retry safe: the same key with the same request within 24 hours gets the first answer again "
        "(status, body, `Content-Type`, `ETag`, `Location`, `Retry-After`) with `Idempotent-Replayed: true`, "
        "without a second effect. The same key with another method, path or body is a 422; while the first "
        "request with the key is still running, a 409 (retry after `Retry-After`). 5xx answers are not kept. "
        "Keys are per merchant, up to 255 printable ASCII characters; a V4 UUID is a good choice."
    ),
    "example": "7c0e6a8e-1f3b-4a52-9d37-0f1c2b9e4d10",
}
_IN_FLIGHT_DOC = "A request with the same `Idempotency-Key` is still being processed; retry after `Retry-After`."
_MISMATCH_DOC = "The `Idempotency-Key` was used for another request (`errors[].path` is `Idempotency-Key`)."


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the shared header parameter, and the 409/422 it can cause, to every mutating `/v1` operation called with
    an API key (one declaring `security`; a signed webhook delivery has none, and the header means nothing there)."""
    schema.setdefault("components", {}).setdefault("parameters", {})["IdempotencyKey"] = PARAMETER
    reference = {"$ref": "#/components/parameters/IdempotencyKey"}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if not rules.applies(method, path) or not operation.get("security"):
                continue
            parameters = operation.setdefault("parameters", [])
            if reference not in parameters:
                parameters.append(reference)
            responses = operation.setdefault("responses", {})
            for status, text in (("409", _IN_FLIGHT_DOC), ("422", _MISMATCH_DOC)):
                if status not in responses:
                    responses[status] = {
                        "description": text,
                        "content": {"application/problem+json": {"schema": {"type": "object"}}},
                    }
                elif text not in responses[status].get("description", ""):
                    responses[status]["description"] = f"{responses[status].get('description', '')} {text}".strip()
    return schema


# --- installation --------------------------------------------------------------------------------------------------


def install(app: FastAPI) -> None:
    """Wrap the app's router (so every route, whenever the app's own middleware stack is built) and its OpenAPI."""
    if getattr(app.state, "idempotency_installed", False):
        return
    app.state.idempotency_installed = True
    runtime = app.state.runtime

    def pool() -> asyncpg.Pool:
        return runtime.pool

    app.router.middleware_stack = IdempotencyMiddleware(
        app.router.middleware_stack, PostgresStore(pool), merchant_resolver(pool), throttle=key_throttle(runtime)
    )
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
