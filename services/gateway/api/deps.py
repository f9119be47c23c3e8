"""Request dependencies: the runtime, and the merchant behind the API key (never from path or body)."""

from __future__ import annotations

import hmac
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.common.logs import log_context
from services.common.rate import TokenBuckets
from services.common.service_app import Runtime
from services.gateway.adapters.merchants import find_key, touch_key
from services.gateway.core.security import matches, well_formed

bearer = HTTPBearer(auto_error=False, description="A merchant API key: `Authorization: Bearer rk_live_…`")

#: One body for every authentication failure, so a caller learns nothing about which check failed.
UNAUTHORIZED = HTTPException(401, "Invalid or missing API key", headers={"WWW-Authenticate": "Bearer"})


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


@dataclass(frozen=True)
class Merchant:
    merchant_id: str
    scopes: tuple[str, ...]


async def current_merchant(
    runtime: RuntimeDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Merchant:
    token = credentials.credentials if credentials else ""
    if not well_formed(token):
        raise UNAUTHORIZED
    record = await find_key(runtime.pool, token)
    now = datetime.now(UTC)
    if (
        record is None
        or not matches(token, record.key_hash)
        or record.revoked_at is not None
        or (record.expires_at is not None and record.expires_at <= now)
    ):
        raise UNAUTHORIZED
    throttle(runtime.extras["key_limits"], f"key:{record.key_id}", now)
    await touch_key(runtime.pool, record.key_id, now)
    log_context.set({**log_context.get({}), "merchant_id": record.merchant_id})
    return Merchant(record.merchant_id, record.scopes)


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

#: For the OpenAPI document: every merchant route and public page can answer 429.
RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "Too many requests for this API key (or, on public pages, this address); "
        "retry after `Retry-After` seconds.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
        "content": {
            "application/problem+json": {
                "example": {"type": "about:blank", "title": "Too many requests", "status": 429}
            }
        },
    }
}


_PROBLEMS: dict[int, tuple[str, str]] = {
    401: ("Missing, malformed, unknown, expired or revoked API key.", "Invalid or missing API key"),
    403: ("The API key lacks a scope this route needs (named in `title`).", "This API key lacks the scope …"),
    404: ("Not found for this merchant; another merchant's data is never visible.", "Not found"),
    409: ("It exists already.", "Conflict"),
    412: ("`If-Match` names an older version: it was changed meanwhile.", "Precondition failed"),
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
                    "example": {"type": "about:blank", "title": _PROBLEMS[status][1], "status": status}
                }
            },
        }
        for status in statuses
    }


def require_scope(*scopes: str):
    """The merchant behind the key, if the key has every one of `scopes`; else 403 naming the first missing one."""

    async def check(merchant: CurrentMerchant) -> Merchant:
        for scope in scopes:
            if scope not in merchant.scopes:
                raise HTTPException(403, f"This API key lacks the scope {scope}")
        return merchant

    return Depends(check)


async def require_admin(
    runtime: RuntimeDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    token = credentials.credentials if credentials else ""
    if not hmac.compare_digest(token.encode(), runtime.settings.admin_token.encode()):
        raise UNAUTHORIZED
