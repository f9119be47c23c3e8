"""Shopify webhooks as contract events: the signature check and one pure mapper per topic.

Shopify signs every delivery with HMAC-SHA256 over the raw body (base64 in `X-Shopify-Hmac-Sha256`), keyed with
the app's client secret, or for webhooks made in the shop admin with the key shown there. Mappers read the
payload shapes of Shopify's webhook reference and return contract `data`; they never read the clock or a
database: what earlier webhooks taught (an order's customer) and the delivery time come in as a `Context`.

Money: Shopify sends decimal strings in the shop currency ("19.99", and numbers in refunds); the contract wants
integer minor units, so amounts are scaled by the currency's exponent (JPY 0, EUR 2, KWD 3; from CLDR via babel).

The modules: `signatures` (headers, HMAC, event ids), `model` (what mappers take and give), `values` and `money`
(Shopify values in the contract's form), and the mappers by topic: `orders` (orders and refunds), `fulfillments`
(parcels) and `customers` (customers and abandoned checkouts). Import from this package, not the modules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.gateway.core.shopify.customers import _customer, checkout_updated
from services.gateway.core.shopify.fulfillments import (
    SHIPMENT_STATUSES,
    carrier,
    fulfillment_created,
    fulfillment_updated,
)
from services.gateway.core.shopify.model import Context, Mapped, OrderLink, Outcome, Unmappable
from services.gateway.core.shopify.money import minor_units
from services.gateway.core.shopify.orders import (
    CANCEL_REASONS,
    CHANNELS,
    UNCATEGORISED,
    UNPAID,
    order_cancelled,
    order_created,
    order_paid,
    payment_method,
    refund_created,
)
from services.gateway.core.shopify.signatures import (
    HMAC_HEADER,
    SHOP_DOMAIN_HEADER,
    TEST_HEADER,
    TOPIC_HEADER,
    WEBHOOK_ID_HEADER,
    event_id,
    sign,
    verify,
)
from services.gateway.core.shopify.values import _id

__all__ = [
    "CANCEL_REASONS",
    "CHANNELS",
    "HMAC_HEADER",
    "MAPPERS",
    "SHIPMENT_STATUSES",
    "SHOP_DOMAIN_HEADER",
    "TEST_HEADER",
    "TOPIC_HEADER",
    "UNCATEGORISED",
    "UNPAID",
    "WEBHOOK_ID_HEADER",
    "Context",
    "Mapped",
    "OrderLink",
    "Outcome",
    "Unmappable",
    "carrier",
    "checkout_updated",
    "event_id",
    "fulfillment_created",
    "fulfillment_updated",
    "minor_units",
    "order_cancelled",
    "order_created",
    "order_paid",
    "order_referenced",
    "payment_method",
    "refund_created",
    "sign",
    "translate",
    "verify",
]

MAPPERS: dict[str, Callable[[dict[str, Any], Context], Outcome]] = {
    "orders/create": order_created,
    "orders/paid": order_paid,
    "orders/cancelled": order_cancelled,
    "refunds/create": refund_created,
    "fulfillments/create": fulfillment_created,
    "fulfillments/update": fulfillment_updated,
    "customers/create": _customer("customer.created", ("created_at", "updated_at")),
    "customers/update": _customer("customer.updated", ("updated_at", "created_at")),
    "checkouts/update": checkout_updated,
}
_NEEDS_ORDER = frozenset({"refunds/create", "fulfillments/create", "fulfillments/update"})


def order_referenced(topic: str, payload: dict[str, Any]) -> str | None:
    """The order whose customer a topic needs from an earlier order webhook."""
    return _id(payload.get("order_id")) if topic in _NEEDS_ORDER else None


def translate(topic: str, payload: dict[str, Any], ctx: Context) -> Outcome:
    mapper = MAPPERS.get(topic)
    if mapper is None:
        return Outcome(ignored=f"topic {topic!r} is not mapped; subscribe only to {', '.join(MAPPERS)}")
    return mapper(payload, ctx)
