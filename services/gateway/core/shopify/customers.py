"""Customer webhooks as customer.created / customer.updated, and abandoned checkouts as cart.updated."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from services.gateway.core.shopify.model import Context, Mapped, Outcome
from services.gateway.core.shopify.money import _currency, _money
from services.gateway.core.shopify.orders import _customer_id, _lines
from services.gateway.core.shopify.values import _address, _email, _id, _locale, _text, _time


def _customer(event_type: str, times: tuple[str, ...]) -> Callable[[dict[str, Any], Context], Outcome]:
    def mapper(customer: dict[str, Any], ctx: Context) -> Outcome:
        address = customer.get("default_address") or {}
        first = _text(customer.get("first_name") or address.get("first_name"), 100)
        last = _text(customer.get("last_name") or address.get("last_name"), 100)
        email = _email(customer.get("email"))
        if email is None or first is None or last is None:
            missing = [n for n, v in (("email", email), ("first_name", first), ("last_name", last)) if v is None]
            return Outcome(ignored=f"{event_type} v1 needs {', '.join(missing)}, which this customer lacks")
        data: dict[str, Any] = {
            "customer_id": _id(customer.get("id")),
            "email": email,
            "first_name": first,
            "last_name": last,
            "salutation": "none",  # Shopify has no salutation field
            # Shopify's customer payload has no language; the merchant's default stands in (set with the secret).
            "locale": _locale(customer.get("locale")) or ctx.default_locale,
            "is_guest": customer.get("state") != "enabled",
        }
        phone = re.sub(r"[\s()-]", "", str(customer.get("phone") or ""))
        if re.fullmatch(r"\+[1-9][0-9]{6,14}", phone):
            data["phone"] = phone
        home = _address(address, street=True)
        if home:
            data["address"] = home
        return Outcome(events=(Mapped(event_type, data, _time(customer, times, ctx)),))

    return mapper


def checkout_updated(checkout: dict[str, Any], ctx: Context) -> Outcome:
    if checkout.get("completed_at"):
        # order.placed ends the cart reminder; a late cart.updated must not start one again.
        return Outcome(ignored="the checkout is completed: orders/create reports the order")
    customer_id = _customer_id(checkout)
    url = _text(checkout.get("abandoned_checkout_url"), 2048)
    if customer_id is None or not url or not re.fullmatch(r"https?://\S+", url):
        return Outcome(ignored="an anonymous checkout, or one without a recovery URL: no reminder is possible")
    currency = _currency(checkout.get("currency") or checkout.get("presentment_currency"), "currency")
    data: dict[str, Any] = {
        "cart_id": _id(checkout.get("token") or checkout.get("id")),
        "customer_id": customer_id,
        "currency": currency,
        "lines": _lines(checkout.get("line_items"), currency, "line_items", cart=True),
        "total_minor": _money(checkout, "total_price", currency, ""),
        "recovery_url": url,
    }
    email = _email(checkout.get("email") or (checkout.get("customer") or {}).get("email"))
    if email:
        data["email"] = email
    at = _time(checkout, ("updated_at", "created_at"), ctx)
    return Outcome(events=(Mapped("cart.updated", data, at),))
