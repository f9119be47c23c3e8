"""Reads about one customer or order, answered by the owning service; scoped to the key's merchant."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from services.common.envelope import ID_PATTERN
from services.gateway.api.deps import RATE_LIMITED, RuntimeDep, problem_responses, require_scope
from services.gateway.api.forward import forward

router = APIRouter(prefix="/v1", tags=["customers"], responses=RATE_LIMITED | problem_responses(401, 403, 422, 503))
CustomerId = Annotated[str, Path(pattern=ID_PATTERN, description="The shop's customer id")]
OrderId = Annotated[str, Path(pattern=ID_PATTERN, description="The shop's order id")]

LOYALTY_EXAMPLE = {
    "customer_id": "c-4711",
    "balance": 149,
    "available": 149,
    "pending": 29,
    "lifetime_earned": 228,
    "redeemed": 79,
    "expired": 0,
    "reversed": 0,
    "shortfall": 0,
    "last_activity_at": "2026-03-05T14:30:00Z",
    "tier": {"key": "silver", "name": "Silber", "since": "2026-01-12T10:02:00Z", "review_at": "2027-01-12T10:02:00Z",
             "earn_multiplier": "1.25", "free_shipping": True, "exclusive_rewards": []},
    "membership": {"plan_id": None, "status": None, "valid_until": None, "active": False, "free_shipping": False},
    "codes": [],
    "history": [{"entry_id": "0b7f3c2e-6a1d-5e4f-8b9c-1d2e3f4a5b6c", "kind": "pending", "bucket": "pending",
                 "points": 29, "shortfall": 0, "reason_code": "purchase", "order_id": "o-100234", "shipment_id": None,
                 "rule_version": 3, "reverses_entry_id": None, "source_type": "order.paid",
                 "occurred_at": "2026-03-05T14:30:00Z",
                 "description": "29 Punkte für deine Bestellung o-100234 vorgemerkt – verfügbar, sobald sie "
                                "zugestellt und die Rückgabefrist vorbei ist."}],
}  # fmt: skip
PROFILE_EXAMPLE = {
    "customer_id": "c-4711",
    "erased": False,
    "person": {"email": "anna.schmidt@example.de", "first_name": "Anna", "last_name": "Schmidt",
               "salutation": "frau", "locale": "de-DE", "is_guest": False, "birthday": "1988-06-23"},
    "location": {"city": "Berlin", "postcode": "10115", "country": "DE"},
    "acquisition_channel": "web_shop",
    "marketing_source": None,
    "lifecycle": "repeat",
    "orders": {"count": 3, "revenue_minor": 14925, "currency": "EUR", "average_order_value_minor": 4975,
               "first_order_at": "2025-03-14T09:21:07Z", "last_order_at": "2026-03-05T14:30:00Z",
               "mean_days_between_orders": 178.2},
    "products_bought": ["p-espresso"],
    "categories_bought": ["coffee"],
    "discount_codes": ["WELCOME10"],
    "reviews": {"count": 1, "average_rating": 5.0},
    "tier": "silver",
    "open_cart": False,
    "rfm": {"recency": 5, "frequency": 3, "monetary": 4, "group": "loyal"},
    "consents": {"marketing": True, "advertising": False},
    "segments": ["active-coffee"],
}  # fmt: skip
MESSAGES_EXAMPLE = {
    "customer_id": "c-4711",
    "messages": [
        {"notification_id": "3f6c1e9a-52b4-5d1e-9b0a-2c7d8e9f0a1b", "template": "shipped", "status": "sent",
         "status_reason": None, "created_at": "2026-03-06T08:12:03Z", "sent_at": "2026-03-06T08:12:05Z"},
        {"notification_id": "8a2d4f6b-1c3e-5a7b-9d0f-4e6a8c0b2d4f", "template": "win_back", "status": "suppressed",
         "status_reason": "no marketing consent", "created_at": "2026-02-01T07:00:00Z", "sent_at": None},
    ],
    "next_cursor": None,
}  # fmt: skip
SHIPMENTS_EXAMPLE = {
    "customer_id": "c-4711",
    "items": [
        {"shipment_id": "s-88120", "order_id": "o-100234", "carrier": "dhl", "status": "delivered",
         "status_at": "2026-03-05T11:42:00Z", "promised_date": "2026-03-05", "estimated_date": "2026-03-05",
         "delivered_at": "2026-03-05T11:42:00Z", "on_time": True, "direction": "outbound",
         "created_at": "2026-03-03T16:05:00Z"},
    ],
    "next_cursor": None,
}  # fmt: skip
TRACKING_EXAMPLE = {
    "order_id": "o-100234",
    "order_number": "10023451",
    "delivered": False,
    "delivered_at": None,
    "parcels_delivered": 0,
    "parcels": 1,
    "shipments": [
        {"shipment_id": "s-55001", "direction": "outbound", "carrier": "dhl", "tracking_number": "00340434161094042557",
         "tracking_url": "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode=00340434161094042557",
         "service_level": "standard", "status": "in_transit", "status_at": "2026-03-06T18:40:00Z",
         "exception_reason": None, "promised_delivery_date": "2026-03-09", "promise_source": "rules",
         "estimated_delivery_date": "2026-03-07", "delivered_at": None, "problems": [],
         "timeline": [{"status": "in_transit", "raw_status_code": "PICKUP",
                       "location": {"city": "Dortmund", "country": "DE"}, "scanned_at": "2026-03-06T18:40:00Z"}]},
    ],
}  # fmt: skip


def _ok(description: str, example: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """For the OpenAPI document: the 200 answer with an example."""
    return {200: {"description": description, "content": {"application/json": {"example": example}}}}


def _base(merchant_id: str) -> str:
    return f"/internal/v1/merchants/{quote(merchant_id, safe='')}"


@router.get(
    "/customers/{customer_id}/loyalty",
    summary="A customer's points and tier",
    responses=_ok("Balances, tier, membership, codes and the latest history", LOYALTY_EXAMPLE) | problem_responses(404),
)
async def customer_loyalty(
    customer_id: CustomerId, runtime: RuntimeDep, merchant=require_scope("loyalty:read")
) -> dict[str, Any]:
    """Points balance, lifetime points and the latest ledger entries of a customer."""
    return await runtime.extras["services"].get(
        "loyalty", f"{_base(merchant.merchant_id)}/customers/{customer_id}/loyalty"
    )


@router.get(
    "/customers/{customer_id}/profile",
    summary="A customer's profile",
    responses=_ok("The profile as of now", PROFILE_EXAMPLE) | problem_responses(404),
)
async def customer_profile(
    customer_id: CustomerId, runtime: RuntimeDep, merchant=require_scope("customers:read")
) -> Response:
    """Person, location, order figures, products, reviews, tier, RFM, consents and segments of a customer. An unknown
    customer is the segments service's 404 problem, passed through as it is."""
    return await forward(runtime, merchant, "GET", "segments", f"/customers/{customer_id}/profile")


@router.get(
    "/customers/{customer_id}/messages",
    summary="The mails to a customer",
    responses=_ok("The newest notifications first, with their status", MESSAGES_EXAMPLE),
)
async def customer_messages(
    customer_id: CustomerId,
    runtime: RuntimeDep,
    before: Annotated[str | None, Query(max_length=100, description="`next_cursor` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Messages per page")] = 50,
    merchant=require_scope("customers:read"),
) -> Response:
    """Notifications for a customer, newest first: which message, whether it was sent, suppressed or failed and why,
    and when; pass `next_cursor` as `before` for older ones. An erased customer's stay as pseudonymous entries."""
    params = {"before": before, "limit": limit}
    return await forward(runtime, merchant, "GET", "notifications", f"/customers/{customer_id}/messages", params=params)


@router.get(
    "/customers/{customer_id}/shipments",
    summary="A customer's parcels",
    responses=_ok("The customer's parcels across orders, newest first", SHIPMENTS_EXAMPLE),
)
async def customer_shipments(
    customer_id: CustomerId,
    runtime: RuntimeDep,
    before: Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Parcels per page")] = 50,
    merchant=require_scope("tracking:read"),
) -> Response:
    """Every parcel of the customer with carrier, status, promised and estimated date, delivery and whether it was
    on time; each order's scan timeline is at `/v1/orders/{order_id}/tracking`."""
    params = {"before": before, "limit": limit}
    return await forward(runtime, merchant, "GET", "tracking", f"/customers/{customer_id}/shipments", params=params)


@router.get(
    "/orders/{order_id}/tracking",
    summary="An order's parcels",
    responses=_ok("Every parcel of the order with its state and scan timeline", TRACKING_EXAMPLE)
    | problem_responses(404),
)
async def order_tracking(
    order_id: OrderId, runtime: RuntimeDep, merchant=require_scope("tracking:read")
) -> dict[str, Any]:
    """Shipments of an order with their current state and scan timeline."""
    return await runtime.extras["services"].get("tracking", f"{_base(merchant.merchant_id)}/orders/{order_id}/tracking")
