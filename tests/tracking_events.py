"""Builders of the events tracking reads, and an in-memory driver of its rules (shared by unit and
integration tests)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from services.common.contract import load_contract
from services.common.envelope import Envelope, new_envelope
from services.tracking.domain.engine import Board, check, handle
from services.tracking.domain.promise import DeliveryRules, TransitTime

MERCHANT = "m-track"
CONTRACT = load_contract()


def placed(order_id: str, at: datetime, lines: tuple[str, ...] = ("L1",), customer: str = "c1") -> Envelope:
    return new_envelope(
        "order.placed",
        MERCHANT,
        {
            "order_id": order_id,
            "order_number": order_id.upper(),
            "customer_id": customer,
            "currency": "EUR",
            "lines": [
                {
                    "line_id": line,
                    "sku": f"sku-{line}",
                    "product_id": f"p-{line}",
                    "name": line,
                    "category": "shoes",
                    "quantity": 1,
                    "unit_price_minor": 1000,
                    "total_minor": 1000,
                }
                for line in lines
            ],
            "subtotal_minor": 1000 * len(lines),
            "shipping_minor": 0,
            "tax_minor": 0,
            "discount_minor": 0,
            "total_minor": 1000 * len(lines),
            "discount_codes": [],
            "channel": "web_shop",
            "is_guest_checkout": False,
            "shipping_address": {"city": "Dortmund", "postcode": "44135", "country": "DE"},
        },
        occurred_at=at,
    )


def created(
    shipment_id: str,
    order_id: str,
    at: datetime,
    *,
    lines: tuple[str, ...] = ("L1",),
    promised: date | None = None,
    carrier: str = "dhl",
    customer: str = "c1",
    **extra: Any,
) -> Envelope:
    data: dict[str, Any] = {
        "shipment_id": shipment_id,
        "order_id": order_id,
        "customer_id": customer,
        "carrier": carrier,
        "tracking_number": extra.pop("tracking_number", f"TN{shipment_id}"),
        "tracking_url": f"https://track.example/{shipment_id}",
        "service_level": "standard",
        "line_ids": list(lines),
        "destination": {"country": "DE", "postcode": "44135", "city": "Dortmund"},
        "shipped_at": at.isoformat(),
        **extra,
    }
    if promised is not None:
        data["promised_delivery_date"] = promised.isoformat()
    return new_envelope("shipment.created", MERCHANT, data, occurred_at=at)


def scan(
    shipment_id: str,
    order_id: str,
    status: str,
    at: datetime,
    *,
    carrier: str = "dhl",
    raw: str | None = None,
    **extra: Any,
) -> Envelope:
    data = {
        "shipment_id": shipment_id,
        "order_id": order_id,
        "carrier": carrier,
        "status": status,
        "raw_status_code": raw or status.upper(),
        "scanned_at": at.isoformat(),
        **extra,
    }
    return new_envelope("shipment.status_updated", MERCHANT, data, occurred_at=at, event_id=uuid.uuid4())


class Tracking:
    """The rules over an in-memory board: what the service would decide, without a database."""

    def __init__(self, rules: DeliveryRules | None = None, transit: TransitTime | None = None) -> None:
        self.board = Board()
        self.rules = rules or DeliveryRules()
        self.transit = transit
        self.events: list[Envelope] = []

    def deliver(self, *events: Envelope) -> list[Envelope]:
        before = len(self.board.emitted)
        for event in events:
            handle(self.board, event, lambda _m: self.rules, lambda _s: self.transit)
        return self._new(before)

    def look(self, shipment_id: str, now: datetime) -> list[Envelope]:
        before = len(self.board.emitted)
        check(self.board, self.board.shipments[(MERCHANT, shipment_id)], self.rules, self.transit, now)
        return self._new(before)

    def _new(self, before: int) -> list[Envelope]:
        new = self.board.emitted[before:]
        for event in new:  # everything tracking says must be on the contract
            CONTRACT.validate_data(event.type, event.schema_version, event.data)
        self.events += new
        return new

    def shipment(self, shipment_id: str):
        return self.board.shipments[(MERCHANT, shipment_id)]

    def next_check(self, shipment_id: str) -> datetime | None:
        return self.board.checks.get((MERCHANT, shipment_id))


def types(events: list[Envelope]) -> list[str]:
    return [e.type for e in events]
