"""Request dependencies: the runtime, and the merchant behind the API key (never from path or body)."""

from __future__ import annotations

import hmac
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.common.logs import log_context
from services.common.rate import TokenBuckets
from services.common.service_app import Runtime
from services.gateway.adapters.merchants import find_key, touch_key
from services.gateway.core.security import key_status, matches, well_formed

bearer = HTTPBearer(auto_error=False, description="A merchant API key: `Authorization: Bearer rk_live_…`")

#: One body for every authentication failure (missing, malformed, wrong checksum, unknown, revoked, expired), so a
#: caller learns nothing about which check failed; a fresh exception each time (a shared one would chain tracebacks).
UNAUTHORIZED_TITLE = "Invalid or missing API key"
#: One body for every missing scope, on every route: only the scope's name varies (it is public, see docs/gateway.md).
FORBIDDEN_TITLE = "This API key lacks the scope {scope}"


def unauthorized() -> HTTPException:
    return HTTPException(401, UNAUTHORIZED_TITLE, headers={"WWW-Authenticate": "Bearer"})


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


@dataclass(frozen=True)
class Merchant:
    """Who is calling: always taken from the API key, never from the path or the body."""

    merchant_id: str
    scopes: tuple[str, ...]
    key_id: uuid.UUID | None = None


async def current_merchant(
    runtime: RuntimeDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Merchant:
    # The token itself is never logged nor put in the log context: only the key's id once it is known.
    token = credentials.credentials if credentials else ""
    if not well_formed(token):  # missing, malformed or a wrong checksum: refused without a database lookup
        raise unauthorized()
    record = await find_key(runtime.pool, token)
    now = datetime.now(UTC)
    if (
        record is None
        or not matches(token, record.key_hash)  # constant time
        or key_status(record.revoked_at, record.expires_at, now) != "active"
    ):
        raise unauthorized()
    throttle(runtime.extras["key_limits"], f"key:{record.key_id}", now)
    await touch_key(runtime.pool, record.key_id, now)
    log_context.set({**log_context.get({}), "merchant_id": record.merchant_id, "key_id": str(record.key_id)})
    return Merchant(record.merchant_id, record.scopes, record.key_id)


CurrentMerchant = Annotated[Merchant, Depends(current_merchant)]


def throttle(buckets: TokenBuckets, key: str, now: datetime) -> None:
    """429 with `Retry-After` (whole seconds, rounded up) when the key or address has no token left."""
    next_token = buckets.take(key, now)
    if next_token is not None:
        wait = max(1, math.ceil((next_token - now).total_seconds()))
        raise HTTPException(429, "Too many requests", headers={"Retry-After": str(wait)})


async def public_rate_limit(request: Request, runtime: RuntimeDep) -> None:
    """The public pages have no key: limited per client address (links are guessable only by brute force)."""
    header = runtime.settings.gateway_client_ip_header
    forwarded = request.headers.get(header, "") if header else ""
    address = forwarded.split(",")[0].strip() or (request.client.host if request.client else "unknown")
    throttle(runtime.extras["public_limits"], f"ip:{address}", datetime.now(UTC))


PublicRateLimit = Depends(public_rate_limit)

#: For the OpenAPI document: the body of every problem answer (RFC 9457), as `services.common.http.problem` writes it.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "One entry per bad field: `path` names it (e.g. `events[0].data.lines[2].quantity`)",
            "items": {
                "type": "object",
                "required": ["path", "message"],
                "properties": {"path": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}

#: For the OpenAPI document: every merchant route and public page can answer 429.
RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "Too many requests for this API key (or, on public pages, this address); "
        "retry after `Retry-After` seconds.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
        "content": {
            "application/problem+json": {
                "schema": PROBLEM_SCHEMA,
                "example": {"type": "about:blank", "title": "Too many requests", "status": 429},
            }
        },
    }
}


_PROBLEMS: dict[int, tuple[str, str]] = {
    400: ("The body cannot be read as JSON text (e.g. it is not UTF-8).", "There was an error parsing the body"),
    401: ("Missing, malformed, unknown, expired or revoked API key.", "Invalid or missing API key"),
    403: ("The API key lacks a scope this route needs (named in `title`).", "This API key lacks the scope …"),
    404: ("Not found for this merchant; another merchant's data is never visible.", "Not found"),
    409: ("It exists already.", "Conflict"),
    412: ("`If-Match` names an older version: it was changed meanwhile.", "Precondition failed"),
    413: ("The body is larger than this route takes.", "Body too large"),
    422: ("Invalid input; `errors[].path` names each bad field.", "Validation failed"),
    503: (
        "The owning service is unreachable or failed; retry shortly.",
        "The … service is unavailable; try again shortly",
    ),
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """For the OpenAPI document: the problem+json answers a route can give, each with an example."""
    return {
        status: {
            "description": _PROBLEMS[status][0],
            "content": {
                "application/problem+json": {
                    "schema": PROBLEM_SCHEMA,
                    "example": {"type": "about:blank", "title": _PROBLEMS[status][1], "status": status},
                }
            },
        }
        for status in statuses
    }


#: For the OpenAPI document: the answers of every route called with an API key (the key is checked first: 401, 403;
#: then its rate: 429; then the input: 422).
KEYED: dict[int | str, dict[str, Any]] = RATE_LIMITED | problem_responses(401, 403, 422)
#: ... and of every route a service answers (503 when it is down).
FORWARDED: dict[int | str, dict[str, Any]] = KEYED | problem_responses(503)
#: ... and of every route with a JSON body (400 when it is not even JSON text).
WITH_BODY: dict[int | str, dict[str, Any]] = problem_responses(400)


def example_response(
    status: int, example: Any, *, media_type: str = "application/json", description: str | None = None
) -> dict[int | str, dict[str, Any]]:
    """For the OpenAPI document: an example of an answer, merged into the response FastAPI documents for `status`."""
    response: dict[str, Any] = {"content": {media_type: {"example": example}}}
    if description is not None:
        response["description"] = description
    return {status: response}


def html_responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """For the OpenAPI document: the HTML pages a public link answers with, by status."""
    return {
        status: {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}
        for status, description in descriptions.items()
    }


def require_scope(*scopes: str):
    """The merchant behind the key, if the key has every one of `scopes`; else 403 naming the first missing one."""

    async def check(merchant: CurrentMerchant) -> Merchant:
        for scope in scopes:
            if scope not in merchant.scopes:
                raise HTTPException(403, FORBIDDEN_TITLE.format(scope=scope))
        return merchant

    return Depends(check)


async def require_admin(
    runtime: RuntimeDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    token = credentials.credentials if credentials else ""
    admin_token = runtime.settings.admin_token
    if not admin_token or not hmac.compare_digest(token.encode(), admin_token.encode()):  # an empty one opens nothing
        raise unauthorized()
