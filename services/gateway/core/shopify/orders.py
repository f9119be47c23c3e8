"""Order, payment, cancellation and refund webhooks as contract events."""

from __future__ import annotations

import re
from typing import Any

from services.gateway.core.shopify.model import Context, Mapped, OrderLink, Outcome, Unmappable
from services.gateway.core.shopify.money import _currency, _money, minor_units
from services.gateway.core.shopify.values import _address, _email, _id, _locale, _text, _time

UNCATEGORISED = "uncategorised"
#: `cancel_reason` → order.cancelled `reason` (Shopify: customer, declined, fraud, inventory, staff, other).
CANCEL_REASONS = {
    "customer": "customer_request",
    "declined": "payment_failed",
    "fraud": "fraud_suspected",
    "inventory": "out_of_stock",
    "staff": "other",
    "other": "other",
}
#: `source_name` → order.placed `channel`; apps and drafts sell through the online shop as far as we can tell.
CHANNELS = {"web": "web_shop", "pos": "point_of_sale"}
#: `financial_status` values of an order that is not (yet) paid: orders/paid then publishes nothing.
UNPAID = frozenset({"pending", "authorized", "voided", "expired"})
#: Substrings of `payment_gateway_names` → payment method; the first gateway that matches wins.
_GATEWAYS = (
    ("paypal", "paypal"),
    ("klarna", "klarna"),
    ("giropay", "giropay"),
    ("apple", "apple_pay"),
    ("google", "google_pay"),
    ("sepa", "sepa_direct_debit"),
    ("lastschrift", "sepa_direct_debit"),
    ("cash on delivery", "cash_on_delivery"),
    ("nachnahme", "cash_on_delivery"),
    ("cash", "cash"),
    ("bank deposit", "prepayment"),
    ("vorkasse", "prepayment"),
    ("rechnung", "invoice"),
    ("invoice", "invoice"),
    ("shopify_payments", "credit_card"),
    ("stripe", "credit_card"),
    ("credit", "credit_card"),
    ("visa", "credit_card"),
    ("mastercard", "credit_card"),
    ("amex", "credit_card"),
    ("amazon", "marketplace"),
)


def payment_method(gateway_names: Any) -> str:
    for name in gateway_names if isinstance(gateway_names, list) else []:
        lowered = str(name).lower()
        for needle, method in _GATEWAYS:
            if needle in lowered:
                return method
    return "other"


def _customer_id(obj: dict[str, Any]) -> str | None:
    customer = obj.get("customer")
    return _id(customer.get("id")) if isinstance(customer, dict) else None


def _lines(items: Any, currency: str, path: str, *, cart: bool = False) -> list[dict[str, Any]]:
    """Line items as contract lines: gross unit price x quantity, before discounts (order discounts are
    `discount_minor`, so loyalty can share them out per line); removed lines (quantity 0) are left out."""
    if not isinstance(items, list):
        raise Unmappable(path, "must be a list of line items")
    lines, seen = [], set()
    for index, item in enumerate(items):
        where = f"{path}[{index}]."
        quantity = item.get("quantity") if isinstance(item, dict) else None
        if not isinstance(quantity, int) or quantity < 1:
            continue
        line_id = _id(item.get("key") if cart else item.get("id")) or str(index + 1)
        if line_id in seen:  # checkout line keys can repeat: keep every line, each with its own id
            line_id = f"{line_id[:120]}.{index + 1}"
        seen.add(line_id)
        sku = _text(item.get("sku"), 64)
        product_id = _id(item.get("product_id")) or _id(f"sku-{sku}" if sku else f"custom-{line_id}")
        unit = _money(item, "price", currency, where)
        lines.append(
            {
                "line_id": line_id,
                "sku": sku or _id(item.get("variant_id")) or f"line-{line_id}"[:64],
                "product_id": product_id,
                "name": _text(item.get("name") or item.get("title") or item.get("presentment_title"), 300)
                or sku
                or line_id,
                "category": _text(item.get("product_type"), 200) or UNCATEGORISED,
                "quantity": quantity,
                "unit_price_minor": unit,
                "total_minor": unit * quantity,
            }
        )
    return lines


def _order_number(order: dict[str, Any]) -> str:
    # `name` is what the customer sees ("#1001", or with the shop's prefix/suffix); the "#" is decoration.
    number = _text(order.get("name"), 65) or _text(order.get("order_number"), 64) or _id(order.get("id"))
    return (number or "").removeprefix("#")[:64]


def _order_link(order: dict[str, Any]) -> OrderLink | None:
    order_id, customer_id = _id(order.get("id")), _customer_id(order)
    if order_id is None or customer_id is None:
        return None
    currency = (_text(order.get("currency"), 8) or "").upper()
    return OrderLink(order_id, customer_id, currency if re.fullmatch(r"[A-Z]{3}", currency) else None)


def _anonymous(order: dict[str, Any]) -> Outcome:
    return Outcome(ignored=f"order {order.get('id')} has no customer (an anonymous sale): nothing to retain")


def order_created(order: dict[str, Any], ctx: Context) -> Outcome:
    link = _order_link(order)
    if link is None:
        return _anonymous(order)
    currency = _currency(order.get("currency"), "currency")
    customer = order.get("customer") or {}
    codes = [_text(c.get("code"), 64) for c in order.get("discount_codes") or [] if isinstance(c, dict)]
    shipping = (
        _money(order, "total_shipping_price", currency, "")
        if order.get("total_shipping_price_set")
        else sum(
            _money(s, "price", currency, f"shipping_lines[{i}].")
            for i, s in enumerate(order.get("shipping_lines") or [])
        )
    )
    data: dict[str, Any] = {
        "order_id": link.order_id,
        "order_number": _order_number(order),
        "customer_id": link.customer_id,
        "currency": currency,
        "lines": _lines(order.get("line_items"), currency, "line_items"),
        "subtotal_minor": _money(order, "total_line_items_price", currency, ""),
        "shipping_minor": shipping,
        "tax_minor": _money(order, "total_tax", currency, "", default="0"),
        "discount_minor": _money(order, "total_discounts", currency, "", default="0"),
        "total_minor": _money(order, "total_price", currency, ""),
        "discount_codes": list(dict.fromkeys(c for c in codes if c))[:20],
        "channel": CHANNELS.get(str(order.get("source_name")), "web_shop"),
        "payment_method": payment_method(order.get("payment_gateway_names")),
        # Shopify keeps a customer record for guests too; only an enabled one has an account to log in to.
        "is_guest_checkout": customer.get("state") != "enabled",
    }
    email = _email(order.get("email") or order.get("contact_email") or customer.get("email"))
    locale = _locale(order.get("customer_locale"))
    address = _address(order.get("shipping_address"))
    data |= {k: v for k, v in (("email", email), ("locale", locale), ("shipping_address", address)) if v}
    at = _time(order, ("created_at", "processed_at"), ctx)
    return Outcome(events=(Mapped("order.placed", data, at),), link=link)


def order_paid(order: dict[str, Any], ctx: Context) -> Outcome:
    link = _order_link(order)
    if link is None:
        return _anonymous(order)
    status = order.get("financial_status")
    if status in UNPAID:
        return Outcome(ignored=f"financial_status is {status!r}: the order is not paid", link=link)
    currency = _currency(order.get("currency"), "currency")
    outstanding = _money(order, "total_outstanding", currency, "", default="0")
    data = {
        "order_id": link.order_id,
        "customer_id": link.customer_id,
        "amount_minor": max(0, _money(order, "total_price", currency, "") - outstanding),
        "currency": currency,
        "payment_method": payment_method(order.get("payment_gateway_names")),
    }
    at = _time(order, ("updated_at", "processed_at", "created_at"), ctx)
    return Outcome(events=(Mapped("order.paid", data, at),), link=link)


def order_cancelled(order: dict[str, Any], ctx: Context) -> Outcome:
    link = _order_link(order)
    if link is None:
        return _anonymous(order)
    if not order.get("cancelled_at"):
        return Outcome(ignored="cancelled_at is empty: the order is not cancelled", link=link)
    data = {
        "order_id": link.order_id,
        "customer_id": link.customer_id,
        "reason": CANCEL_REASONS.get(str(order.get("cancel_reason")), "other"),
    }
    return Outcome(events=(Mapped("order.cancelled", data, _time(order, ("cancelled_at",), ctx)),), link=link)


def refund_created(refund: dict[str, Any], ctx: Context) -> Outcome:
    if ctx.order is None:
        return Outcome(waits_for_order=_id(refund.get("order_id")))
    items = [i for i in refund.get("refund_line_items") or [] if isinstance(i, dict)]
    paid_back = [
        t
        for t in refund.get("transactions") or []
        if isinstance(t, dict) and t.get("kind") == "refund" and t.get("status") == "success"
    ]
    currency = _currency(
        next((t["currency"] for t in paid_back if t.get("currency")), None)
        or next((((i.get("subtotal_set") or {}).get("shop_money") or {}).get("currency_code") for i in items), None)
        or ctx.order.currency,
        "transactions[].currency",
    )
    lines = [
        {
            "line_id": _id(item.get("line_item_id")),
            "quantity": int(item.get("quantity") or 0),
            "amount_minor": _money(item, "subtotal", currency, f"refund_line_items[{i}].", default="0"),
        }
        for i, item in enumerate(items)
    ]
    shipping = sum(
        abs(_money(a, "amount", currency, f"order_adjustments[{i}]."))
        for i, a in enumerate(refund.get("order_adjustments") or [])
        if a.get("kind") == "shipping_refund"
    ) + sum(
        _money(s, "subtotal_amount", currency, f"refund_shipping_lines[{i}].", default="0")
        for i, s in enumerate(refund.get("refund_shipping_lines") or [])
    )
    amount = sum(minor_units(t.get("amount", "0"), currency, "transactions[].amount") for t in paid_back)
    amount = amount or sum(line["amount_minor"] for line in lines) + shipping
    if amount < 1:
        return Outcome(ignored="the refund pays nothing back (a restock or a zero refund)")
    restock = {item.get("restock_type") for item in items}
    reason = (
        "returned"
        if refund.get("return") or "return" in restock
        else "cancelled"
        if "cancel" in restock
        else "goodwill"
        if not lines
        else "other"
    )
    data = {
        "refund_id": _id(refund.get("id")),
        "order_id": ctx.order.order_id,
        "customer_id": ctx.order.customer_id,
        "lines": lines,
        "amount_minor": amount,
        "currency": currency,
        "reason": reason,
    }
    if shipping:
        data["shipping_minor"] = shipping
    at = _time(refund, ("processed_at", "created_at"), ctx)
    return Outcome(events=(Mapped("order.refunded", data, at),))
