"""Fulfillment webhooks as parcels: shipment.created once a tracking number is known, then status updates."""

from __future__ import annotations

import re
from typing import Any

from services.gateway.core.shopify.model import Context, Mapped, Outcome
from services.gateway.core.shopify.values import _address, _id, _text, _time, _timestamp

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
_CARRIERS = (("dhl", "dhl"), ("deutsche post", "dhl"), ("dpd", "dpd"), ("gls", "gls"), ("hermes", "hermes"))


def carrier(tracking_company: Any) -> str:
    """`tracking_company` as Shopify lists it ("DHL Express", "DPD UK", "GLS", "UPS", "Evri") → contract carrier."""
    name = (_text(tracking_company, 100) or "").lower()
    for needle, code in _CARRIERS:
        if needle in name:
            return code
    if "evri" in name:  # Hermes UK's new name
        return "hermes"
    return "ups" if re.search(r"\bups\b", name) else "other"


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
