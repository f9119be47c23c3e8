"""Shopify webhook payloads (shaped as in Shopify's webhook reference) → contract events, and the signature check."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from services.common.contract import load_contract
from services.common.envelope import Envelope
from services.gateway.core import shopify
from services.gateway.core.shopify import Context, Mapped, OrderLink, Outcome, Unmappable

FIXTURES = Path(__file__).parent.parent / "fixtures" / "shopify"
NOW = datetime(2025, 4, 6, 12, 0, tzinfo=UTC)
ANNA = OrderLink("5820948211234", "7219384756201", "EUR")
SECRET = "shpss_unit-test-secret-0123456789"


def body(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def payload(name: str) -> dict[str, Any]:
    return json.loads(body(name), parse_float=Decimal)  # as the route parses: exact amounts


def ctx(order: OrderLink | None = ANNA, locale: str = "de") -> Context:
    return Context(received_at=NOW, default_locale=locale, order=order)


def valid(mapped: Mapped, merchant_id: str = "kaffee-dortmund") -> Envelope:
    """The event as the gateway would publish it, validated by the contract (raises on any violation)."""
    return load_contract().validate(
        {
            "event_id": str(shopify.event_id(merchant_id, mapped.type, json.dumps(mapped.data).encode())),
            "type": mapped.type,
            "schema_version": 1,
            "merchant_id": merchant_id,
            "occurred_at": mapped.occurred_at.isoformat(),
            "data": mapped.data,
        }
    )


def only(outcome: Outcome) -> dict[str, Any]:
    assert outcome.ignored is None and outcome.waits_for_order is None and len(outcome.events) == 1, outcome
    valid(outcome.events[0])
    return outcome.events[0].data


CASES = [
    ("orders_create", "orders/create", ["order.placed"]),
    ("orders_create_pos_jpy", "orders/create", ["order.placed"]),
    ("orders_paid", "orders/paid", ["order.paid"]),
    ("orders_cancelled", "orders/cancelled", ["order.cancelled"]),
    ("refunds_create", "refunds/create", ["order.refunded"]),
    ("fulfillments_create", "fulfillments/create", ["shipment.created"]),
    ("fulfillments_update", "fulfillments/update", ["shipment.status_updated"]),
    ("customers_create", "customers/create", ["customer.created"]),
    ("customers_update", "customers/update", ["customer.updated"]),
    ("checkouts_update", "checkouts/update", ["cart.updated"]),
]


@pytest.mark.parametrize(("fixture", "topic", "types"), CASES, ids=[c[0] for c in CASES])
def test_every_fixture_maps_to_events_the_contract_accepts(fixture: str, topic: str, types: list[str]) -> None:
    outcome = shopify.translate(topic, payload(fixture), ctx())
    assert [m.type for m in outcome.events] == types
    for mapped in outcome.events:
        envelope = valid(mapped)
        assert load_contract().partition_key(envelope).startswith(b"kaffee-dortmund:")


def test_every_mapped_topic_has_a_fixture() -> None:
    assert {topic for _, topic, _ in CASES} == set(shopify.MAPPERS)


def test_orders_create_becomes_order_placed_in_minor_units() -> None:
    outcome = shopify.translate("orders/create", payload("orders_create"), ctx(order=None))
    data = only(outcome)
    assert outcome.link == ANNA  # later refunds and fulfillments learn the customer from here
    assert outcome.events[0].occurred_at == datetime.fromisoformat("2025-03-14T10:21:07+01:00")
    assert data["order_id"] == "5820948211234" and data["order_number"] == "1042"
    assert data["customer_id"] == "7219384756201" and data["email"] == "anna.schmidt@example.de"
    assert data["locale"] == "de" and data["currency"] == "EUR"
    # Lines at gross price before discounts; the voucher is the order's discount, so loyalty can share it out.
    assert [(line["line_id"], line["sku"], line["quantity"], line["unit_price_minor"], line["total_minor"]) for line in
            data["lines"]] == [("14280372650123", "ESP-DOR-1000", 1, 2490, 2490),
                               ("14280372650124", "ACC-HF-KER-02", 2, 1990, 3980)]  # fmt: skip
    assert data["lines"][0]["product_id"] == "8123456789012"
    assert data["lines"][0]["category"] == "uncategorised"  # Shopify's line items carry no product_type
    assert (data["subtotal_minor"], data["shipping_minor"], data["discount_minor"], data["total_minor"]) == (
        6470,
        490,
        500,
        6460,
    )
    assert data["subtotal_minor"] + data["shipping_minor"] - data["discount_minor"] == data["total_minor"]
    assert data["tax_minor"] == 1031 and data["discount_codes"] == ["WILLKOMMEN5"]
    assert data["channel"] == "web_shop" and data["payment_method"] == "paypal"
    assert data["is_guest_checkout"] is False
    assert data["shipping_address"] == {"city": "Dortmund", "postcode": "44137", "country": "DE"}


def test_a_point_of_sale_order_in_yen_has_no_decimals_and_fills_what_a_custom_line_lacks() -> None:
    data = only(shopify.translate("orders/create", payload("orders_create_pos_jpy"), ctx()))
    assert data["currency"] == "JPY" and data["total_minor"] == 3600 and data["tax_minor"] == 327
    assert data["channel"] == "point_of_sale" and data["payment_method"] == "cash"
    assert "shipping_address" not in data and data["locale"] == "ja"
    line = data["lines"][0]
    assert (line["unit_price_minor"], line["total_minor"]) == (1800, 3600)
    assert line["product_id"] == "custom-14280372650777" and line["sku"] == "line-14280372650777"


def test_product_type_becomes_the_category_where_a_payload_has_it() -> None:
    order = payload("orders_create")
    order["line_items"][0]["product_type"] = "Kaffee"
    data = only(shopify.translate("orders/create", order, ctx()))
    assert [line["category"] for line in data["lines"]] == ["Kaffee", "uncategorised"]


@pytest.mark.parametrize(
    ("source_name", "channel"),
    [("web", "web_shop"), ("pos", "point_of_sale"), ("shopify_draft_order", "web_shop"), ("1520611", "web_shop")],
)
def test_source_name_becomes_the_channel(source_name: str, channel: str) -> None:
    order = payload("orders_create") | {"source_name": source_name}
    assert only(shopify.translate("orders/create", order, ctx()))["channel"] == channel


def test_a_guest_discount_codes_and_removed_lines() -> None:
    order = payload("orders_create")
    order["customer"]["state"] = "disabled"
    order["discount_codes"] = [{"code": "A"}, {"code": "A"}, {"code": ""}, {"code": "B" * 80}]
    order["line_items"][1]["quantity"] = 0  # removed by an order edit
    data = only(shopify.translate("orders/create", order, ctx()))
    assert data["is_guest_checkout"] is True
    assert data["discount_codes"] == ["A", "B" * 64]
    assert [line["line_id"] for line in data["lines"]] == ["14280372650123"]


def test_an_order_without_customer_is_acknowledged_but_not_published() -> None:
    outcome = shopify.translate("orders/create", payload("orders_create") | {"customer": None}, ctx())
    assert outcome.events == () and "no customer" in (outcome.ignored or "") and outcome.link is None


@pytest.mark.parametrize(
    ("gateways", "method"),
    [
        (["paypal"], "paypal"),
        (["Klarna Pay Later"], "klarna"),
        (["shopify_payments"], "credit_card"),
        (["Cash on Delivery (COD)"], "cash_on_delivery"),
        (["Bank Deposit"], "prepayment"),
        (["manual", "Kauf auf Rechnung"], "invoice"),
        (["bogus"], "other"),
        ([], "other"),
    ],
)
def test_payment_gateway_names_become_the_payment_method(gateways: list[str], method: str) -> None:
    assert shopify.payment_method(gateways) == method


def test_orders_paid_publishes_what_was_captured_and_only_for_a_paid_order() -> None:
    data = only(shopify.translate("orders/paid", payload("orders_paid"), ctx()))
    assert data == {
        "order_id": "5820948211234",
        "customer_id": "7219384756201",
        "amount_minor": 6460,
        "currency": "EUR",
        "payment_method": "paypal",
    }
    pending = shopify.translate("orders/paid", payload("orders_paid") | {"financial_status": "pending"}, ctx())
    assert pending.events == () and "pending" in (pending.ignored or "") and pending.link == ANNA


@pytest.mark.parametrize(("cancel_reason", "reason"), [*shopify.CANCEL_REASONS.items(), (None, "other")])
def test_cancel_reason_becomes_the_contract_reason(cancel_reason: str | None, reason: str) -> None:
    order = payload("orders_cancelled") | {"cancel_reason": cancel_reason}
    data = only(shopify.translate("orders/cancelled", order, ctx()))
    assert data == {"order_id": "5820948211301", "customer_id": "7219384756999", "reason": reason}


def test_an_order_that_is_not_cancelled_publishes_no_cancellation() -> None:
    outcome = shopify.translate("orders/cancelled", payload("orders_cancelled") | {"cancelled_at": None}, ctx())
    assert outcome.events == () and outcome.ignored


def test_a_refund_names_only_its_order_so_it_waits_for_the_customer() -> None:
    outcome = shopify.translate("refunds/create", payload("refunds_create"), ctx(order=None))
    assert outcome == Outcome(waits_for_order="5820948211234")
    assert shopify.order_referenced("refunds/create", payload("refunds_create")) == "5820948211234"
    assert shopify.order_referenced("orders/create", payload("orders_create")) is None


def test_refunds_create_becomes_order_refunded() -> None:
    data = only(shopify.translate("refunds/create", payload("refunds_create"), ctx()))
    assert data == {
        "refund_id": "981234567801",
        "order_id": "5820948211234",
        "customer_id": "7219384756201",
        "lines": [{"line_id": "14280372650124", "quantity": 1, "amount_minor": 1836}],  # subtotal sent as a number
        "amount_minor": 2326,  # what the successful refund transactions paid back
        "shipping_minor": 490,  # the shipping_refund adjustment, sent negative
        "currency": "EUR",
        "reason": "returned",  # restock_type "return"
    }


def test_a_refund_without_transaction_currency_takes_the_lines_currency_and_shipping_only_is_goodwill() -> None:
    refund = payload("refunds_create")
    refund["transactions"][0]["currency"] = None  # as in Shopify's own sample payload
    assert (
        only(shopify.translate("refunds/create", refund, ctx(OrderLink(ANNA.order_id, ANNA.customer_id))))["currency"]
        == "EUR"
    )
    refund["refund_line_items"] = []
    refund["transactions"][0]["amount"] = "4.90"
    data = only(shopify.translate("refunds/create", refund, ctx()))
    assert (data["lines"], data["amount_minor"], data["reason"]) == ([], 490, "goodwill")


def test_a_refund_that_pays_nothing_back_is_not_an_order_refunded() -> None:
    refund = payload("refunds_create") | {"transactions": [], "order_adjustments": []}
    refund["refund_line_items"][0] |= {"subtotal": 0, "subtotal_set": None, "restock_type": "cancel"}
    outcome = shopify.translate("refunds/create", refund, ctx())
    assert outcome.events == () and "nothing" in (outcome.ignored or "")


def test_fulfillments_create_becomes_shipment_created() -> None:
    assert shopify.translate("fulfillments/create", payload("fulfillments_create"), ctx(None)).waits_for_order == (
        "5820948211234"
    )
    data = only(shopify.translate("fulfillments/create", payload("fulfillments_create"), ctx()))
    assert data == {
        "shipment_id": "4987654321098",
        "order_id": "5820948211234",
        "customer_id": "7219384756201",
        "carrier": "dhl",
        "tracking_number": "00340434161094042557",
        "tracking_url": "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode=00340434161094042557",
        "service_level": "standard",
        "line_ids": ["14280372650123", "14280372650124"],
        "shipped_at": "2025-03-14T14:02:11Z",
        "destination": {"country": "DE", "postcode": "44137"},
    }


def test_a_fulfillment_without_tracking_number_waits_for_the_update_that_brings_one() -> None:
    untracked = payload("fulfillments_create") | {"tracking_number": None, "tracking_numbers": [], "tracking_url": None}
    assert shopify.translate("fulfillments/create", untracked, ctx()).ignored
    data = only(shopify.translate("fulfillments/update", payload("fulfillments_create"), ctx()))
    assert data["tracking_number"] == "00340434161094042557"  # an update without carrier status announces it


def test_a_fulfillment_created_with_a_status_announces_the_parcel_and_its_status() -> None:
    delivered = payload("fulfillments_create") | {"shipment_status": "delivered", "tracking_company": "DHL Express"}
    outcome = shopify.translate("fulfillments/create", delivered, ctx())
    assert [m.type for m in outcome.events] == ["shipment.created", "shipment.status_updated"]
    assert outcome.events[0].data["service_level"] == "express" and outcome.events[1].data["status"] == "delivered"
    for mapped in outcome.events:
        valid(mapped)


@pytest.mark.parametrize(("shipment_status", "status"), [*shopify.SHIPMENT_STATUSES.items(), ("teleported", "unknown")])
def test_shipment_status_becomes_the_contract_status(shipment_status: str, status: str) -> None:
    update = payload("fulfillments_update") | {"shipment_status": shipment_status}
    data = only(shopify.translate("fulfillments/update", update, ctx(order=None)))  # no customer needed for a scan
    assert (data["status"], data["raw_status_code"], data["scanned_at"]) == (
        status,
        shipment_status,
        "2025-03-15T06:48:30Z",
    )
    assert "customer_id" not in data and ("exception_reason" in data) == (status == "exception")


def test_a_cancelled_fulfillment_has_no_canonical_event() -> None:
    cancelled = payload("fulfillments_update") | {"status": "cancelled"}
    assert shopify.translate("fulfillments/update", cancelled, ctx()).ignored


@pytest.mark.parametrize(
    ("company", "code"),
    [
        ("DHL", "dhl"),
        ("DHL Express", "dhl"),
        ("DHL eCommerce", "dhl"),
        ("Deutsche Post", "dhl"),
        ("DPD UK", "dpd"),
        ("GLS", "gls"),
        ("Hermes", "hermes"),
        ("Evri", "hermes"),
        ("UPS", "ups"),
        ("USPS", "other"),
        ("Royal Mail", "other"),
        (None, "other"),
    ],
)
def test_tracking_company_becomes_the_carrier(company: str | None, code: str) -> None:
    assert shopify.carrier(company) == code


def test_customers_create_and_update_become_profiles_with_the_merchants_language() -> None:
    created = only(shopify.translate("customers/create", payload("customers_create"), ctx(locale="de")))
    assert created == {
        "customer_id": "7219384756201",
        "email": "anna.schmidt@example.de",
        "first_name": "Anna",
        "last_name": "Schmidt",
        "salutation": "none",
        "locale": "de",
        "is_guest": False,
        "phone": "+4923112345678",
        "address": {"street": "Kampstraße 45", "city": "Dortmund", "postcode": "44137", "country": "DE"},
    }
    updated = shopify.translate("customers/update", payload("customers_update"), ctx(locale="en-GB"))
    assert updated.events[0].data["address"]["city"] == "Bochum" and updated.events[0].data["locale"] == "en-GB"
    assert updated.events[0].occurred_at == datetime.fromisoformat("2025-04-02T09:15:00+02:00")
    valid(updated.events[0])


def test_a_customer_without_name_or_email_cannot_be_a_contract_profile() -> None:
    newsletter_only = payload("customers_create") | {"first_name": None, "last_name": None, "default_address": None}
    outcome = shopify.translate("customers/create", newsletter_only, ctx())
    assert outcome.events == () and "first_name, last_name" in (outcome.ignored or "")
    no_email = payload("customers_create") | {"email": None, "phone": "0231 123"}
    assert "email" in (shopify.translate("customers/create", no_email, ctx()).ignored or "")


def test_checkouts_update_becomes_cart_updated() -> None:
    data = only(shopify.translate("checkouts/update", payload("checkouts_update"), ctx()))
    assert data["cart_id"] == "b1946ac92492d2347c6235b4d2611184"  # = the order's checkout_token
    assert data["customer_id"] == "7219384756201" and data["email"] == "anna.schmidt@example.de"
    assert data["total_minor"] == 4480 and data["recovery_url"].startswith("https://kaffeeroesterei-dortmund.")
    # Line keys carry a colon, which ids may not: reduced to the contract's id alphabet.
    assert [line["line_id"] for line in data["lines"]] == [
        "45012345678901-7d4e7e5f7a5a8d3e1b2c",
        "45012345678902-0c1d2e3f4a5b6c7d8e9f",
    ]


def test_repeated_checkout_line_keys_stay_distinct_lines() -> None:
    checkout = payload("checkouts_update")
    checkout["line_items"][1]["key"] = checkout["line_items"][0]["key"]  # as in Shopify's sample payload
    ids = [line["line_id"] for line in only(shopify.translate("checkouts/update", checkout, ctx()))["lines"]]
    assert len(set(ids)) == 2


def test_completed_or_anonymous_checkouts_start_no_reminder() -> None:
    completed = payload("checkouts_update") | {"completed_at": "2025-03-13T20:15:00+01:00"}
    assert shopify.translate("checkouts/update", completed, ctx()).ignored
    anonymous = payload("checkouts_update") | {"customer": None}
    assert shopify.translate("checkouts/update", anonymous, ctx()).ignored


def test_an_unmapped_topic_is_acknowledged_with_the_list_of_mapped_ones() -> None:
    outcome = shopify.translate("products/update", {"id": 1}, ctx())
    assert outcome.events == () and "orders/create" in (outcome.ignored or "")


def test_bad_values_name_the_shopify_field() -> None:
    with pytest.raises(Unmappable) as bad_currency:
        shopify.translate("orders/create", payload("orders_create") | {"currency": "EURO"}, ctx())
    assert bad_currency.value.path == "currency"
    order = payload("orders_create")
    order["line_items"][1]["price"] = "zwanzig"
    order["line_items"][1]["price_set"] = None
    with pytest.raises(Unmappable) as bad_price:
        shopify.translate("orders/create", order, ctx())
    assert bad_price.value.path == "line_items[1].price"
    with pytest.raises(Unmappable):
        shopify.translate("orders/create", payload("orders_create") | {"created_at": "2025-03-14T10:21:07"}, ctx())


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("19.99", "EUR", 1999),
        ("0.00", "EUR", 0),
        (Decimal("89.99"), "USD", 8999),
        (18.36, "EUR", 1836),
        ("1500", "JPY", 1500),
        ("1500.00", "JPY", 1500),
        ("1.250", "KWD", 1250),
        ("0.005", "EUR", 1),  # half-up, should Shopify ever send finer than the currency
    ],
)
def test_money_becomes_minor_units_by_the_currency_exponent(amount: Any, currency: str, minor: int) -> None:
    assert shopify.minor_units(amount, currency) == minor


@pytest.mark.parametrize("amount", ["12,90", "NaN", "", None])
def test_a_non_amount_is_unmappable(amount: Any) -> None:
    with pytest.raises(Unmappable):
        shopify.minor_units(amount, "EUR")


def test_the_signature_covers_the_exact_bytes_with_the_merchants_secret() -> None:
    raw = body("orders_create")
    good = base64.b64encode(hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()).decode()
    assert shopify.sign(SECRET, raw) == good and shopify.verify(SECRET, raw, good)
    reserialised = json.dumps(json.loads(raw), separators=(",", ":"), ensure_ascii=False).encode()
    assert json.loads(reserialised) == json.loads(raw) and reserialised != raw
    assert not shopify.verify(SECRET, reserialised, good)  # same JSON, other bytes
    assert not shopify.verify("another-merchants-secret", raw, good)
    assert not shopify.verify(SECRET, raw, None) and not shopify.verify(SECRET, raw, "")
    assert not shopify.verify(SECRET, raw, "not base64 ü")
    assert not shopify.verify(None, raw, good) and not shopify.verify("", raw, shopify.sign("", raw))
    tampered = bytearray(base64.b64decode(good))
    tampered[0] ^= 1
    assert not shopify.verify(SECRET, raw, base64.b64encode(bytes(tampered)).decode())


def test_event_ids_follow_the_bytes_not_the_webhook_id() -> None:
    raw = body("orders_create")
    first = shopify.event_id("m-1", "order.placed", raw)
    assert first == shopify.event_id("m-1", "order.placed", raw) and first.version == 5
    assert len({first, shopify.event_id("m-2", "order.placed", raw), shopify.event_id("m-1", "order.paid", raw)}) == 3
    assert shopify.event_id("m-1", "order.placed", raw + b" ") != first
    assert isinstance(first, uuid.UUID)


def test_mappers_leave_the_payload_untouched() -> None:
    original = payload("orders_create")
    kept = copy.deepcopy(original)
    shopify.translate("orders/create", original, ctx())
    assert original == kept
