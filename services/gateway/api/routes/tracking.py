"""Delivery tracking through the merchant API: delivery performance, delivery rules, carrier scan intake.

Bodies are validated with the tracking service's own models (strict: unknown fields are refused) and
forwarded; the service's problems come back unchanged. Order tracking lives with the customer routes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import Response

from services.common.envelope import ID_PATTERN
from services.gateway.api.deps import RATE_LIMITED, RuntimeDep, require_scope
from services.tracking.domain.branding import Branding
from services.tracking.domain.promise import DeliveryRules

router = APIRouter(prefix="/v1", tags=["tracking"], responses=RATE_LIMITED)
Carrier = Annotated[str, Path(pattern="^(dhl|dpd|gls|hermes|ups)$", description="dhl, dpd, gls, hermes or ups")]


def _base(merchant_id: str) -> str:
    return f"/internal/v1/merchants/{quote(merchant_id, safe='')}"


@router.get("/tracking/performance")
async def delivery_performance(
    runtime: RuntimeDep,
    since: Annotated[datetime | None, Query(description="Start (inclusive, with offset); default 30 days ago")] = None,
    until: Annotated[datetime | None, Query(description="End (exclusive, with offset); default now")] = None,
    merchant=require_scope("tracking:read"),
) -> Response:
    """On-time rate, transit-time percentiles (p50, p90) and problem counts by carrier and reason."""
    params = {k: v.isoformat() for k, v in (("since", since), ("until", until)) if v is not None}
    return await runtime.extras["services"].send(
        "GET", "tracking", f"{_base(merchant.merchant_id)}/tracking/performance", params=params
    )


@router.get("/tracking/rules")
async def get_delivery_rules(runtime: RuntimeDep, merchant=require_scope("tracking:read")) -> Response:
    """Delivery rules: business days per carrier/service/country, cut-off hour, no-movement limits."""
    return await runtime.extras["services"].send("GET", "tracking", f"{_base(merchant.merchant_id)}/tracking/rules")


@router.put("/tracking/rules")
async def put_delivery_rules(
    rules: DeliveryRules, runtime: RuntimeDep, merchant=require_scope("config:write")
) -> Response:
    """Replace the delivery rules (validated; a catch-all delivery time is required)."""
    return await runtime.extras["services"].send(
        "PUT", "tracking", f"{_base(merchant.merchant_id)}/tracking/rules", json=rules.model_dump(mode="json")
    )


@router.post("/carriers/{carrier}/scans", status_code=202)
async def carrier_scans(
    carrier: Carrier,
    payload: Annotated[dict[str, Any], Body(description="The carrier's tracking payload, as the carrier documents it")],
    runtime: RuntimeDep,
    merchant=require_scope("events:write"),
) -> Response:
    """Forward a carrier's tracking webhook or API answer: scans are normalised to the canonical states (the raw
    code kept) and applied to the parcels with these tracking numbers; unknown numbers are listed back."""
    return await runtime.extras["services"].send(
        "POST", "tracking", f"{_base(merchant.merchant_id)}/carriers/{carrier}/scans", json=payload
    )


@router.get("/tracking/branding")
async def get_branding(runtime: RuntimeDep, merchant=require_scope("tracking:read")) -> Response:
    """How the customer tracking page looks: shop name, logo, colour, language, form of address."""
    return await runtime.extras["services"].send("GET", "tracking", f"{_base(merchant.merchant_id)}/tracking/branding")


@router.put("/tracking/branding")
async def put_branding(branding: Branding, runtime: RuntimeDep, merchant=require_scope("config:write")) -> Response:
    """Replace the tracking page's branding (https logo, hex colour; validated)."""
    return await runtime.extras["services"].send(
        "PUT", "tracking", f"{_base(merchant.merchant_id)}/tracking/branding", json=branding.model_dump(mode="json")
    )


@router.get("/orders/{order_id}/tracking-link")
async def tracking_link(
    order_id: Annotated[str, Path(pattern=ID_PATTERN)], runtime: RuntimeDep, merchant=require_scope("tracking:read")
) -> Response:
    """The customer's public tracking page for an order (signed, expiring): for order confirmations and support."""
    return await runtime.extras["services"].send(
        "GET", "tracking", f"{_base(merchant.merchant_id)}/orders/{order_id}/tracking-link"
    )
