"""What tracking knows about a parcel and its order: plain data, changed only by the rules in this package."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

#: Statuses a parcel cannot leave (the state machine in `shipments.py` enforces it).
FINAL = frozenset({"delivered", "returned_to_sender", "lost"})


@dataclass
class Shipment:
    merchant_id: str
    shipment_id: str
    order_id: str
    carrier: str
    customer_id: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    service_level: str = "standard"
    direction: str = "outbound"
    line_ids: list[str] = field(default_factory=list)
    return_lines: list[dict[str, object]] = field(default_factory=list)
    country: str | None = None
    postcode: str | None = None
    #: The shop's promise (shipment.created) or one derived from the merchant's delivery rules.
    promised_date: date | None = None
    promise_source: str | None = None
    estimated_date: date | None = None
    carrier_estimate: date | None = None
    status: str | None = None
    status_at: datetime | None = None
    exception_reason: str | None = None
    raw_status_code: str | None = None
    shipped_at: datetime | None = None
    first_scan_at: datetime | None = None
    last_scan_at: datetime | None = None
    delivered_at: datetime | None = None
    #: problem ("delayed" | "stuck" | "exception") -> reason, for the problems reported and not yet cleared.
    problems: dict[str, str] = field(default_factory=dict)
    #: "problem:reason" pairs ever reported: each is reported once per shipment.
    reported: list[str] = field(default_factory=list)
    #: True once shipment.created arrived (a scan may come first and create the parcel from what it says).
    announced: bool = False

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @property
    def started_at(self) -> datetime | None:
        """Hand-over time, or the first carrier scan when the shop did not say."""
        return self.shipped_at or self.first_scan_at


@dataclass
class OrderFacts:
    """The order as tracking needs it: which lines must arrive before the order counts as delivered."""

    merchant_id: str
    order_id: str
    customer_id: str | None = None
    order_number: str | None = None
    line_ids: list[str] = field(default_factory=list)
    country: str | None = None
    postcode: str | None = None
    delivered_at: datetime | None = None
    returned_ids: list[str] = field(default_factory=list)
