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
from services.gateway.api.deps import FORWARDED, WITH_BODY, RuntimeDep, example_response, require_scope
from services.gateway.api.routes.text_guard import STORABLE_BODY
from services.tracking.domain.branding import Branding
from services.tracking.domain.promise import DeliveryRules

router = APIRouter(prefix="/v1", tags=["tracking"], responses=FORWARDED, dependencies=[STORABLE_BODY])
Carrier = Annotated[
    str, Path(pattern="^(dhl|dpd|gls|hermes|ups)$", description="dhl, dpd, gls, hermes or ups", examples=["dhl"])
]

# --- examples (the Kaffeerösterei in Dortmund ships with DHL and Hermes) -------------------------------------------

PERFORMANCE_EXAMPLE = {
    "since": "2026-02-03T00:00:00Z",
    "until": "2026-03-05T00:00:00Z",
    "delivered": 412,
    "on_time_rate": 0.9345,
    "problems": [
        {"carrier": "dhl", "problem": "delayed", "reason": "promise_passed", "count": 17},
        {"carrier": "hermes", "problem": "stuck", "reason": "no_movement", "count": 4},
    ],
    "carriers": [
        {"carrier": "dhl", "delivered": 351, "on_time_rate": 0.9431, "transit_hours_p50": 26.5,
         "transit_hours_p90": 51.0, "problems": [{"problem": "delayed", "reason": "promise_passed", "count": 17}]},
        {"carrier": "hermes", "delivered": 61, "on_time_rate": 0.8852, "transit_hours_p50": 44.0,
         "transit_hours_p90": 75.5, "problems": [{"problem": "stuck", "reason": "no_movement", "count": 4}]},
    ],
}  # fmt: skip
RULES_EXAMPLE = {
    "times": [
        {"carrier": "*", "service_level": "express", "country": "*", "business_days": 1},
        {"carrier": "*", "service_level": "*", "country": "DE", "business_days": 2},
        {"carrier": "hermes", "service_level": "*", "country": "DE", "business_days": 3},
        {"carrier": "*", "service_level": "*", "country": "AT", "business_days": 3},
        {"carrier": "*", "service_level": "*", "country": "*", "business_days": 5},
    ],
    "cutoff_hour": 14,
    "saturday_delivery": True,
    "holiday_subdivision": "NW",
    "no_movement_hours": {"*": 48, "ups": 36},
    "min_history": 20,
}
BRANDING_EXAMPLE = {
    "shop_name": "Kaffeerösterei Dortmund",
    "logo_url": "https://cdn.kaffeeroesterei-dortmund.de/logo.svg",
    "colour": "#6b3e26",
    "language": "de",
    "form_of_address": "du",
    "support_email": "hallo@kaffeeroesterei-dortmund.de",
}
DHL_PAYLOAD_EXAMPLE = {
    "shipments": [
        {
            "id": "00340434161094042557",
            "service": "parcel-de",
            "status": {
                "timestamp": "2026-03-06T07:42:00+01:00",
                "statusCode": "transit",
                "status": "Die Sendung wurde im Paketzentrum bearbeitet.",
                "location": {"address": {"addressLocality": "Dortmund", "postalCode": "44147", "countryCode": "DE"}},
            },
            "events": [],
        }
    ]
}


def _base(merchant_id: str) -> str:
    return f"/internal/v1/merchants/{quote(merchant_id, safe='')}"


@router.get("/tracking/performance", responses=example_response(200, PERFORMANCE_EXAMPLE))
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


@router.get("/tracking/rules", responses=example_response(200, {"version": 4, "rules": RULES_EXAMPLE}))
async def get_delivery_rules(runtime: RuntimeDep, merchant=require_scope("tracking:read")) -> Response:
    """Delivery rules: business days per carrier/service/country, cut-off hour, no-movement limits."""
    return await runtime.extras["services"].send("GET", "tracking", f"{_base(merchant.merchant_id)}/tracking/rules")


@router.put("/tracking/rules", responses=WITH_BODY | example_response(200, {"version": 5, "rules": RULES_EXAMPLE}))
async def put_delivery_rules(
    rules: Annotated[
        DeliveryRules,
        Body(openapi_examples={"nrw": {"summary": "Cut-off 14:00, NRW holidays", "value": RULES_EXAMPLE}}),
    ],
    runtime: RuntimeDep,
    merchant=require_scope("config:write"),
) -> Response:
    """Replace the delivery rules (validated; a catch-all delivery time is required)."""
    return await runtime.extras["services"].send(
        "PUT", "tracking", f"{_base(merchant.merchant_id)}/tracking/rules", json=rules.model_dump(mode="json")
    )


@router.post(
    "/carriers/{carrier}/scans",
    status_code=202,
    responses=WITH_BODY | example_response(202, {"accepted": 1, "unknown_codes": 0, "unmatched_tracking_numbers": []}),
)
async def carrier_scans(
    carrier: Carrier,
    payload: Annotated[
        dict[str, Any],
        Body(
            description="The carrier's tracking payload, as the carrier documents it",
            openapi_examples={"dhl": {"summary": "DHL Shipment Tracking, one parcel", "value": DHL_PAYLOAD_EXAMPLE}},
        ),
    ],
    runtime: RuntimeDep,
    merchant=require_scope("events:write"),
) -> Response:
    """Forward a carrier's tracking webhook or API answer: scans are normalised to the canonical states (the raw
    code kept) and applied to the parcels with these tracking numbers; unknown numbers are listed back."""
    return await runtime.extras["services"].send(
        "POST", "tracking", f"{_base(merchant.merchant_id)}/carriers/{carrier}/scans", json=payload
    )


@router.get("/tracking/branding", responses=example_response(200, BRANDING_EXAMPLE))
async def get_branding(runtime: RuntimeDep, merchant=require_scope("tracking:read")) -> Response:
    """How the customer tracking page looks: shop name, logo, colour, language, form of address."""
    return await runtime.extras["services"].send("GET", "tracking", f"{_base(merchant.merchant_id)}/tracking/branding")


@router.put("/tracking/branding", responses=WITH_BODY | example_response(200, BRANDING_EXAMPLE))
async def put_branding(
    branding: Annotated[Branding, Body(openapi_examples={"roesterei": {"value": BRANDING_EXAMPLE}})],
    runtime: RuntimeDep,
    merchant=require_scope("config:write"),
) -> Response:
    """Replace the tracking page's branding (https logo, hex colour; validated)."""
    return await runtime.extras["services"].send(
        "PUT", "tracking", f"{_base(merchant.merchant_id)}/tracking/branding", json=branding.model_dump(mode="json")
    )


@router.get(
    "/orders/{order_id}/tracking-link",
    responses=example_response(
        200,
        {
            "url": "https://shop.kaffeeroesterei-dortmund.de/t/WyJrYWZmZWUiLCJvLTEwMDIzNCJd.awcnRQ.MgL9s3cK896-jNYZQNTyM6qrRBQ",
            "expires_in_days": 120,
        },
    ),
)
async def tracking_link(
    order_id: Annotated[str, Path(pattern=ID_PATTERN, description="The shop's order id", examples=["o-100234"])],
    runtime: RuntimeDep,
    merchant=require_scope("tracking:read"),
) -> Response:
    """The customer's public tracking page for an order (signed, expiring): for order confirmations and support."""
    return await runtime.extras["services"].send(
        "GET", "tracking", f"{_base(merchant.merchant_id)}/orders/{order_id}/tracking-link"
    )
