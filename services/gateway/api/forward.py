"""The one shape of a forwarded merchant call: the key's merchant in the internal path, the service's answer back.

`/v1/<path>` for the merchant behind the key becomes `/internal/v1/merchants/<merchant_id>/<path>` at the service;
the merchant never comes from the caller's path or body. Query parameters left out (None) are not sent, so the
service's own defaults apply.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi.responses import Response

from services.common.service_app import Runtime
from services.gateway.api.deps import Merchant


def merchant_path(merchant: Merchant, path: str) -> str:
    """`path` (starting with `/`, its parameters already validated or quoted) under the merchant's internal prefix."""
    return f"/internal/v1/merchants/{quote(merchant.merchant_id, safe='')}{path}"


async def forward(
    runtime: Runtime,
    merchant: Merchant,
    method: str,
    service: str,
    path: str,
    *,
    json: Any = None,
    params: dict[str, Any] | None = None,
    headers: dict[str, str | None] | None = None,
    stream: bool = False,
) -> Response:
    """The service's answer as it is (status, JSON or problem+json, `ETag`); 503 problem when it is down.

    `stream=True` (GET only) passes a download through chunk by chunk instead of reading it whole.
    """
    sent_params = {k: v for k, v in (params or {}).items() if v is not None} or None
    sent_headers = {k: v for k, v in (headers or {}).items() if v is not None} or None
    services = runtime.extras["services"]
    if stream:
        return await services.stream(service, merchant_path(merchant, path), params=sent_params)
    return await services.send(
        method, service, merchant_path(merchant, path), json=json, params=sent_params, headers=sent_headers
    )
