"""The simulated shop's arithmetic: baskets, gross prices with German VAT, discounts, refunds, promised dates."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.platform import simulator_catalogue as cat

try:
    BERLIN: Any = ZoneInfo("Europe/Berlin")
except ZoneInfoNotFoundError:  # a machine without tz data: local times then come in UTC
    BERLIN = UTC

PRODUCT_BY_ID = {p.product_id: p for p in cat.PRODUCTS}


@dataclass
class Customer:
    customer_id: str
    profile: dict[str, Any]
    place: cat.Place
    language: str
    marketing: bool = False
    orders: int = 0
    erased: bool = False


@dataclass
class Order:
    customer: Customer
    data: dict[str, Any]
    paid: bool = False
    shipped: bool = False
    cancelled: bool = False
    refunded: bool = False
    delivery: str = "pending"


def iso(moment: datetime) -> str:
    """Event times as the platform stores them: UTC, milliseconds, `Z`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def local_iso(moment: datetime) -> str:
    """Carrier scan times as carriers send them: local German time with its offset."""
    return moment.astimezone(BERLIN).isoformat(timespec="milliseconds")


def pick_lines(rng: random.Random) -> list[dict[str, Any]]:
    """One to four different products, mostly one of each."""
    wanted = rng.choices((1, 2, 3, 4), (50, 30, 15, 5))[0]
    products: list[cat.Product] = []
    while len(products) < wanted:
        product = rng.choices(cat.PRODUCTS, cat.PRODUCT_WEIGHTS)[0]
        if product not in products:
            products.append(product)
    lines = []
    for number, product in enumerate(products, 1):
        quantity = rng.choices((1, 2, 3), (75, 20, 5))[0]
        lines.append(
            {
                "line_id": f"L{number}",
                "sku": product.sku,
                "product_id": product.product_id,
                "name": product.name,
                "category": product.category,
                "quantity": quantity,
                "unit_price_minor": product.price_minor,
                "total_minor": quantity * product.price_minor,
            }
        )
    return lines


def _vat_contained(gross_minor: float, vat_percent: int) -> float:
    return gross_minor * vat_percent / (100 + vat_percent)


def build_order(
    rng: random.Random, customer: Customer, channel: str, lines: list[dict[str, Any]], *, order_id: str, number: int
) -> dict[str, Any]:
    """An `order.placed` data object whose amounts add up: total = subtotal − discount + shipping."""
    subtotal = sum(line["total_minor"] for line in lines)
    codes = []
    discount = 0
    if channel == "web_shop" and rng.random() < 0.15:
        usable = [
            code
            for code, (_, _, minimum) in cat.DISCOUNT_CODES.items()
            if subtotal >= minimum and (code != "WILLKOMMEN10" or customer.orders == 0)
        ]
        if usable:
            code = rng.choice(usable)
            percent, fixed, _ = cat.DISCOUNT_CODES[code]
            discount = min(subtotal, subtotal * percent // 100 + fixed)
            codes.append(code)
    goods = subtotal - discount
    free = channel in ("point_of_sale", "amazon") or goods >= cat.FREE_SHIPPING_FROM_MINOR
    shipping = 0 if free else cat.SHIPPING_MINOR
    # VAT is contained in gross prices; shipping carries the goods' rates in proportion (Aufteilungsmethode).
    tax = 0.0
    for line in lines:
        rate = PRODUCT_BY_ID[line["product_id"]].vat_percent
        share = line["total_minor"] / subtotal
        tax += _vat_contained(goods * share, rate) + _vat_contained(shipping * share, rate)
    payment = {
        "amazon": "marketplace",
        "ebay": "marketplace",
        "phone": "invoice",
        "social": "paypal",
        "point_of_sale": rng.choice(("cash", "credit_card")),
    }.get(channel) or rng.choices(
        ("paypal", "klarna", "credit_card", "invoice", "sepa_direct_debit", "prepayment", "apple_pay", "google_pay"),
        (35, 20, 15, 8, 8, 5, 7, 2),
    )[0]
    data: dict[str, Any] = {
        "order_id": order_id,
        "order_number": str(number),
        "customer_id": customer.customer_id,
        "email": customer.profile["email"],
        "locale": customer.profile["locale"],
        "currency": "EUR",
        "lines": lines,
        "subtotal_minor": subtotal,
        "shipping_minor": shipping,
        "tax_minor": round(tax),
        "discount_minor": discount,
        "total_minor": goods + shipping,
        "discount_codes": codes,
        "channel": channel,
        "payment_method": payment,
        "is_guest_checkout": bool(customer.profile["is_guest"]),
    }
    if channel != "point_of_sale":
        place = customer.place
        data["shipping_address"] = {"city": place.city, "postcode": place.postcode, "country": place.country}
    return data


def _paid_for(order: dict[str, Any], line: dict[str, Any], quantity: int) -> int:
    """What the customer really paid for `quantity` units of a line: its share after order discounts."""
    goods = order["subtotal_minor"] - order["discount_minor"]
    return round(line["total_minor"] * quantity / line["quantity"] * goods / order["subtotal_minor"])


def refund_lines(
    order: dict[str, Any], picks: list[tuple[dict[str, Any], int]], reason: str, refund_id: str
) -> dict[str, Any] | None:
    """A partial refund of some units of some lines; None when nothing would be paid back."""
    lines = [
        {"line_id": line["line_id"], "quantity": q, "amount_minor": _paid_for(order, line, q)} for line, q in picks
    ]
    amount = sum(line["amount_minor"] for line in lines)
    if amount <= 0:
        return None
    ids = {"refund_id": refund_id, "order_id": order["order_id"], "customer_id": order["customer_id"]}
    return {**ids, "lines": lines, "amount_minor": amount, "currency": order["currency"], "reason": reason}


def refund_all(order: dict[str, Any], reason: str, refund_id: str) -> dict[str, Any]:
    """Everything back, shipping included; the last line takes the rounding so the parts add up."""
    lines = [
        {
            "line_id": line["line_id"],
            "quantity": line["quantity"],
            "amount_minor": _paid_for(order, line, line["quantity"]),
        }
        for line in order["lines"]
    ]
    goods = order["total_minor"] - order["shipping_minor"]
    lines[-1]["amount_minor"] += goods - sum(line["amount_minor"] for line in lines)
    ids = {"refund_id": refund_id, "order_id": order["order_id"], "customer_id": order["customer_id"]}
    refund = {**ids, "lines": lines, "amount_minor": order["total_minor"], "currency": order["currency"]}
    if order["shipping_minor"]:
        refund["shipping_minor"] = order["shipping_minor"]
    return {**refund, "reason": reason}


def promised_date(shipped_at: datetime, express: bool) -> date:
    """Delivery promise in German business days (parcels come on Saturdays, never on Sundays)."""
    day = shipped_at.astimezone(BERLIN).date()
    remaining = 1 if express else 2
    while remaining:
        day += timedelta(days=1)
        if day.weekday() != 6:
            remaining -= 1
    return day
