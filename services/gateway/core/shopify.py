"""Shopify webhooks as contract events: the signature check and one pure mapper per topic.

Shopify signs every delivery with HMAC-SHA256 over the raw body (base64 in `X-Shopify-Hmac-Sha256`), keyed with
the app's client secret, or for webhooks made in the shop admin with the key shown there. Mappers read the
payload shapes of Shopify's webhook reference and return contract `data`; they never read the clock or a
database: what earlier webhooks taught (an order's customer) and the delivery time come in as a `Context`.

Money: Shopify sends decimal strings in the shop currency ("19.99", and numbers in refunds); the contract wants
integer minor units, so amounts are scaled by the currency's exponent (JPY 0, EUR 2, KWD 3; from CLDR via babel).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from babel.numbers import get_currency_precision

HMAC_HEADER = "X-Shopify-Hmac-Sha256"
TOPIC_HEADER = "X-Shopify-Topic"
WEBHOOK_ID_HEADER = "X-Shopify-Webhook-Id"
SHOP_DOMAIN_HEADER = "X-Shopify-Shop-Domain"
TEST_HEADER = "X-Shopify-Test"
UNCATEGORISED = "uncategorised"
#: Keys the event ids derived from deliveries (see `event_id`); fixed forever, or replays would get new ids.
_NAMESPACE = uuid.UUID("5b0e9a53-2a57-4a43-9a5e-6f1c1d0c7e21")
#: Compared against when a merchant has no secret, so an unknown merchant costs the same work as a bad signature.
_NO_SECRET = b"\x00no-secret-configured"


class Unmappable(ValueError):
    """A verified payload that cannot become a contract event; `path` names the Shopify field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class OrderLink:
    """What order webhooks tell about an order, for the refund and fulfillment webhooks that lack it."""

    order_id: str
    customer_id: str
    currency: str | None = None


@dataclass(frozen=True)
class Context:
    received_at: datetime
    default_locale: str = "de"
    order: OrderLink | None = None


@dataclass(frozen=True)
class Mapped:
    type: str
    data: dict[str, Any]
    occurred_at: datetime


@dataclass(frozen=True)
class Outcome:
    events: tuple[Mapped, ...] = ()
    #: Why nothing is published (the webhook is still acknowledged and recorded).
    ignored: str | None = None
    #: The order whose customer must be known first (refunds and fulfillments carry no customer).
    waits_for_order: str | None = None
    #: Learned from an order webhook: the order's customer and currency.
    link: OrderLink | None = None


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(secret: str | None, body: bytes, header: str | None) -> bool:
    """Constant-time check of the raw bytes; a missing secret or header, or a header that is not base64, is False."""
    key = secret.encode() if secret else _NO_SECRET
    expected = hmac.new(key, body, hashlib.sha256).digest()
    try:
        given = base64.b64decode(header or "", validate=True)
    except (binascii.Error, ValueError):
        given = b""
    return hmac.compare_digest(expected, given) and bool(secret) and bool(header)


def event_id(merchant_id: str, event_type: str, body: bytes) -> uuid.UUID:
    """The same delivered bytes always give the same id, whatever the webhook id: a body replayed under a new
    `X-Shopify-Webhook-Id` (the header is not signed) is still a duplicate for the ingestion's dedupe."""
    return uuid.uuid5(_NAMESPACE, f"{merchant_id}\x1f{event_type}\x1f{hashlib.sha256(body).hexdigest()}")


def order_referenced(topic: str, payload: dict[str, Any]) -> str | None:
    """The order whose customer a topic needs from an earlier order webhook."""
    return _id(payload.get("order_id")) if topic in _NEEDS_ORDER else None


def translate(topic: str, payload: dict[str, Any], ctx: Context) -> Outcome:
    mapper = MAPPERS.get(topic)
    if mapper is None:
        return Outcome(ignored=f"topic {topic!r} is not mapped; subscribe only to {', '.join(MAPPERS)}")
    return mapper(payload, ctx)


# --- values -----------------------------------------------------------------------------------------------------


def minor_units(amount: Any, currency: str, path: str = "amount") -> int:
    """'19.99' EUR → 1999, '1500' JPY → 1500, '1.250' KWD → 1250 (half-up if Shopify ever sends finer)."""
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    except InvalidOperation:
        raise Unmappable(path, f"{amount!r} is not an amount") from None
    if not value.is_finite():
        raise Unmappable(path, f"{amount!r} is not an amount")
    return int(value.scaleb(get_currency_precision(currency)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _money(obj: dict[str, Any], name: str, currency: str, path: str, *, default: Any = None) -> int:
    """The shop-currency amount of `name`, from `<name>_set.shop_money` where present (exact strings)."""
    shop_money = (obj.get(f"{name}_set") or {}).get("shop_money") or {}
    amount = shop_money.get("amount", obj.get(name, default))
    if amount is None:
        raise Unmappable(f"{path}{name}", "is required")
    return minor_units(amount, currency, f"{path}{name}")


def _id(value: Any) -> str | None:
    """Shopify ids are (big) integers or tokens: as strings, reduced to the contract's id alphabet."""
    if value is None or value == "":
        return None
    cleaned = re.sub(r"[^A-Za-z0-9._@+-]", "-", str(value)).lstrip("._@+-")[:128]
    return cleaned or None


def _text(value: Any, limit: int) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text[:limit] or None


def _email(value: Any) -> str | None:
    text = _text(value, 254)
    return text if text and re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text) else None


def _locale(value: Any) -> str | None:
    """'de' → 'de', 'de-de' / 'de_DE' → 'de-DE', 'zh-Hant-TW' → 'zh' (scripts are not in the contract's form)."""
    parts = (_text(value, 35) or "").replace("_", "-").split("-")
    language = parts[0].lower()
    if not re.fullmatch(r"[a-z]{2,3}", language):
        return None
    region = parts[1].upper() if len(parts) == 2 else ""
    return f"{language}-{region}" if re.fullmatch(r"[A-Z]{2}", region) else language


def _address(raw: Any, *, street: bool = False) -> dict[str, str] | None:
    """city/postcode/country of a Shopify address, or None when one is missing or not in the contract's form."""
    if not isinstance(raw, dict):
        return None
    city, postcode = _text(raw.get("city"), 100), _text(raw.get("zip"), 16)
    country = (_text(raw.get("country_code"), 2) or "").upper()
    if not city or not postcode or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 -]+", postcode):
        return None
    if not re.fullmatch(r"[A-Z]{2}", country):
        return None
    address = {"city": city, "postcode": postcode, "country": country}
    if street and _text(raw.get("address1"), 200):
        address = {"street": _text(raw.get("address1"), 200), **address}
    return address


def _time(obj: dict[str, Any], names: Iterable[str], ctx: Context) -> datetime:
    """The first of `names` present, else the delivery time; Shopify always sends an offset."""
    for name in names:
        raw = obj.get(name)
        if raw:
            try:
                parsed = datetime.fromisoformat(str(raw))
            except ValueError:
                raise Unmappable(name, f"{raw!r} is not an ISO 8601 time") from None
            if parsed.utcoffset() is None:
                raise Unmappable(name, f"{raw!r} has no timezone offset")
            return parsed
    return ctx.received_at


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _currency(value: Any, path: str) -> str:
    code = (_text(value, 8) or "").upper()  # not cut to 3: "EURO" must fail, not become EUR
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise Unmappable(path, f"{value!r} is not an ISO 4217 currency code")
    return code


# --- mapping tables ---------------------------------------------------------------------------------------------

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
#: Fulfillment `shipment_status` (Shopify's FulfillmentEventStatus) → the contract's shipment status.
SHIPMENT_STATUSES = {
    "label_printed": "label_created",
    "label_purchased": "label_created",
    "confirmed": "label_created",
    "carrier_picked_up": "in_transit",
    "in_transit": "in_transit",
    "out_for_delivery": "out_for_delivery",
    # Waiting at a pickup point: the last step before delivery, as the Hermes and GLS mappings treat it.
    "ready_for_pickup": "out_for_delivery",
    "attempted_delivery": "failed_attempt",
    "delayed": "exception",
    "failure": "exception",
    "delivered": "delivered",
    "picked_up": "delivered",
}
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
_CARRIERS = (("dhl", "dhl"), ("deutsche post", "dhl"), ("dpd", "dpd"), ("gls", "gls"), ("hermes", "hermes"))


def payment_method(gateway_names: Any) -> str:
    for name in gateway_names if isinstance(gateway_names, list) else []:
        lowered = str(name).lower()
        for needle, method in _GATEWAYS:
            if needle in lowered:
                return method
    return "other"


def carrier(tracking_company: Any) -> str:
    """`tracking_company` as Shopify lists it ("DHL Express", "DPD UK", "GLS", "UPS", "Evri") → contract carrier."""
    name = (_text(tracking_company, 100) or "").lower()
    for needle, code in _CARRIERS:
        if needle in name:
            return code
    if "evri" in name:  # Hermes UK's new name
        return "hermes"
    return "ups" if re.search(r"\bups\b", name) else "other"


# --- mappers ----------------------------------------------------------------------------------------------------


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


def _tracking_number(fulfillment: dict[str, Any]) -> str | None:
    numbers = fulfillment.get("tracking_numbers") or []
    return _text(fulfillment.get("tracking_number") or (numbers[0] if numbers else None), 64)


def _shipment_created(fulfillment: dict[str, Any], ctx: Context) -> Mapped | None:
    assert ctx.order is not None
    number = _tracking_number(fulfillment)
    line_ids = [_id(item.get("id")) for item in fulfillment.get("line_items") or [] if isinstance(item, dict)]
    if number is None or not any(line_ids):
        return None
    company = _text(fulfillment.get("tracking_company"), 100) or ""
    data: dict[str, Any] = {
        "shipment_id": _id(fulfillment.get("id")),
        "order_id": ctx.order.order_id,
        "customer_id": ctx.order.customer_id,
        "carrier": carrier(company),
        "tracking_number": number,
        "service_level": "express" if "express" in company.lower() else "standard",
        "line_ids": list(dict.fromkeys(i for i in line_ids if i)),
        "shipped_at": _timestamp(_time(fulfillment, ("created_at",), ctx)),
    }
    url = _text(fulfillment.get("tracking_url") or next(iter(fulfillment.get("tracking_urls") or []), None), 2048)
    if url and re.fullmatch(r"https?://\S+", url):
        data["tracking_url"] = url
    destination = fulfillment.get("destination") or {}
    country = (_text(destination.get("country_code"), 2) or "").upper()
    if re.fullmatch(r"[A-Z]{2}", country):
        data["destination"] = {"country": country}
        address = _address(destination)
        if address:
            data["destination"]["postcode"] = address["postcode"]
    return Mapped("shipment.created", data, _time(fulfillment, ("created_at",), ctx))


def _status_updated(fulfillment: dict[str, Any], ctx: Context) -> Mapped:
    raw = str(fulfillment["shipment_status"])
    status = SHIPMENT_STATUSES.get(raw, "unknown")
    scanned = _time(fulfillment, ("updated_at", "created_at"), ctx)
    data: dict[str, Any] = {
        "shipment_id": _id(fulfillment.get("id")),
        "order_id": _id(fulfillment.get("order_id")),
        "carrier": carrier(fulfillment.get("tracking_company")),
        "status": status,
        "raw_status_code": raw[:64],
        "scanned_at": _timestamp(scanned),
    }
    if status == "exception":
        data["exception_reason"] = "other"
    if ctx.order is not None:
        data["customer_id"] = ctx.order.customer_id
    number = _tracking_number(fulfillment)
    if number:
        data["tracking_number"] = number
    return Mapped("shipment.status_updated", data, scanned)


def fulfillment_created(fulfillment: dict[str, Any], ctx: Context) -> Outcome:
    if fulfillment.get("status") in ("cancelled", "error", "failure"):
        return Outcome(ignored=f"fulfillment status is {fulfillment.get('status')!r}")
    if ctx.order is None:
        return Outcome(waits_for_order=_id(fulfillment.get("order_id")))
    created = _shipment_created(fulfillment, ctx)
    if created is None:
        return Outcome(ignored="no tracking number yet: the parcel is announced when fulfillments/update adds one")
    events = [created]
    if fulfillment.get("shipment_status"):  # a fulfillment can be created with a status (e.g. already delivered)
        events.append(_status_updated(fulfillment, ctx))
    return Outcome(events=tuple(events))


def fulfillment_updated(fulfillment: dict[str, Any], ctx: Context) -> Outcome:
    if fulfillment.get("status") in ("cancelled", "error", "failure"):
        return Outcome(ignored=f"fulfillment status is {fulfillment.get('status')!r}: the contract has no event")
    if fulfillment.get("shipment_status"):
        return Outcome(events=(_status_updated(fulfillment, ctx),))
    # No carrier status: tracking details changed (often the tracking number arrives after creation).
    return fulfillment_created(fulfillment, ctx)


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
