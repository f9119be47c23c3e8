"""Per-merchant quotas on costly operations, on top of the per-key rate limit (`deps.current_merchant`).

The rate limit keeps one key from flooding the API; a quota keeps a merchant, all of its keys together, from running
the expensive work behind a few routes over and over:

- `exports`: the audience CSV download (a whole segment, hashed) and the privacy export (every service at once);
- `sends`: notification previews and test sends (a mail rendered with the merchant's settings).

Each is a token bucket per merchant and operation class (`RETENTION_GATEWAY_<CLASS>_PER_MINUTE` and `…_BURST`; a rate
of 0 means no quota), kept per gateway process like the rate limits. Beyond it the answer is 429 problem+json with
`Retry-After` in whole seconds. Put the dependency after the route's `require_scope(...)` parameter: the key and its
scope are checked first, so a refused call spends nothing of the merchant's quota.

    async def export_customer(..., merchant=require_scope("privacy:read"), _quota=quota("exports")) -> ...
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from fastapi import Depends, HTTPException

from services.common.rate import TokenBuckets
from services.common.settings import Settings
from services.gateway.api.deps import CurrentMerchant, RuntimeDep

Operation = Literal["exports", "sends"]
OPERATIONS: tuple[str, ...] = get_args(Operation)
QUOTA_TITLE = "Quota exceeded: too many {operation} for this merchant"


def quota_buckets(settings: Settings) -> dict[str, TokenBuckets]:
    """One bucket set per operation class, from the settings (rates per minute → per second)."""
    return {
        "exports": TokenBuckets(settings.gateway_exports_per_minute / 60, settings.gateway_exports_burst),
        "sends": TokenBuckets(settings.gateway_sends_per_minute / 60, settings.gateway_sends_burst),
    }


def quota(operation: Operation) -> Any:
    """A dependency spending one of the merchant's `operation` tokens, or answering 429 with `Retry-After`."""
    if operation not in OPERATIONS:
        raise ValueError(f"unknown quota {operation!r}; one of {', '.join(OPERATIONS)}")

    async def spend(runtime: RuntimeDep, merchant: CurrentMerchant) -> None:
        buckets = runtime.extras.get("quotas")
        if buckets is None:  # made on first use: the process's settings are fixed from its start
            buckets = runtime.extras["quotas"] = quota_buckets(runtime.settings)
        now = datetime.now(UTC)
        next_token = buckets[operation].take(f"merchant:{merchant.merchant_id}", now)
        if next_token is not None:
            wait = max(1, math.ceil((next_token - now).total_seconds()))
            raise HTTPException(429, QUOTA_TITLE.format(operation=operation), headers={"Retry-After": str(wait)})

    return Depends(spend)
