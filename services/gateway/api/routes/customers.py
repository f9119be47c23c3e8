"""Reads about one customer or order, answered by the owning service; scoped to the key's merchant."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path

from services.common.envelope import ID_PATTERN
from services.gateway.api.deps import RATE_LIMITED, RuntimeDep, require_scope

router = APIRouter(prefix="/v1", tags=["customers"], responses=RATE_LIMITED)
CustomerId = Annotated[str, Path(pattern=ID_PATTERN, description="The shop's customer id")]
OrderId = Annotated[str, Path(pattern=ID_PATTERN, description="The shop's order id")]


def _base(merchant_id: str) -> str:
    return f"/internal/v1/merchants/{quote(merchant_id, safe='')}"


@router.get("/customers/{customer_id}/loyalty")
async def customer_loyalty(
    customer_id: CustomerId, runtime: RuntimeDep, merchant=require_scope("loyalty:read")
) -> dict[str, Any]:
    """Points balance, lifetime points and the latest ledger entries of a customer."""
    return await runtime.extras["services"].get(
        "loyalty", f"{_base(merchant.merchant_id)}/customers/{customer_id}/loyalty"
    )


@router.get("/customers/{customer_id}/profile")
async def customer_profile(
    customer_id: CustomerId, runtime: RuntimeDep, merchant=require_scope("customers:read")
) -> dict[str, Any]:
    """Order count, revenue and location of a customer."""
    return await runtime.extras["services"].get(
        "segments", f"{_base(merchant.merchant_id)}/customers/{customer_id}/profile"
    )


@router.get("/customers/{customer_id}/messages")
async def customer_messages(
    customer_id: CustomerId, runtime: RuntimeDep, merchant=require_scope("customers:read")
) -> dict[str, Any]:
    """Notifications for a customer with their delivery status."""
    return await runtime.extras["services"].get(
        "notifications", f"{_base(merchant.merchant_id)}/customers/{customer_id}/messages"
    )


@router.get("/orders/{order_id}/tracking")
async def order_tracking(
    order_id: OrderId, runtime: RuntimeDep, merchant=require_scope("tracking:read")
) -> dict[str, Any]:
    """Shipments of an order with their current state and scan timeline."""
    return await runtime.extras["services"].get("tracking", f"{_base(merchant.merchant_id)}/orders/{order_id}/tracking")
