"""The simulated shop after checkout: parcels and carrier scans, then returns, refunds, reviews and coming back."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from services.platform import simulator_catalogue as cat
from services.platform.simulator_orders import Customer, Order, local_iso, promised_date, refund_all, refund_lines

#: How a parcel's journey goes: (story days after shipping, status, where); weights below.
PLANS: dict[str, tuple[tuple[float, str, str], ...]] = {
    "on_time": ((0.3, "in_transit", "depot"), (1.4, "out_for_delivery", "home"), (1.6, "delivered", "home")),
    "late": (
        (0.3, "in_transit", "depot"),
        (1.5, "exception", "depot"),
        (3.4, "out_for_delivery", "home"),
        (3.6, "delivered", "home"),
    ),
    "exception": (
        (0.3, "in_transit", "depot"),
        (1.2, "exception", "depot"),
        (2.4, "out_for_delivery", "home"),
        (2.6, "delivered", "home"),
    ),
    "second_attempt": (
        (0.3, "in_transit", "depot"),
        (1.4, "out_for_delivery", "home"),
        (1.6, "failed_attempt", "home"),
        (2.4, "out_for_delivery", "home"),
        (2.6, "delivered", "home"),
    ),
    "returned_to_sender": (
        (0.3, "in_transit", "depot"),
        (1.4, "out_for_delivery", "home"),
        (1.6, "failed_attempt", "home"),
        (2.6, "failed_attempt", "home"),
        (6.0, "returned_to_sender", "depot"),
    ),
    "lost": ((0.3, "in_transit", "depot"), (2.0, "exception", "depot"), (6.0, "lost", "depot")),
}
PLAN_WEIGHTS = {"on_time": 78, "late": 10, "exception": 5, "second_attempt": 4, "returned_to_sender": 2, "lost": 1}


class DeliveryStory:
    """Steps from shipping on; mixed into ShopSimulation, which provides the clock, ids and emitting."""

    rng: random.Random
    day: timedelta
    _emit: Callable[[datetime, str, dict[str, Any]], None]
    _at: Callable[[datetime, Callable[[datetime], None]], None]
    _later: Callable[[datetime, float, float, Callable[[datetime], None]], None]
    _id: Callable[[str], str]
    chance: Callable[[float], bool]
    _shop: Callable[..., None]
    _place_order: Callable[..., None]
    _address: Callable[[cat.Place], dict[str, Any]]

    def _ship(self, t: datetime, order: Order) -> None:
        if order.cancelled:
            return
        order.shipped = True
        rng = self.rng
        carrier = rng.choices(cat.CARRIERS, cat.CARRIER_WEIGHTS)[0]
        number = cat.tracking_number(carrier, "".join(rng.choices("0123456789", k=20)))
        express = self.chance(0.1)
        promised = promised_date(t, express)
        shipment = {
            "shipment_id": self._id("s"),
            "order_id": order.data["order_id"],
            "customer_id": order.customer.customer_id,
            "carrier": carrier,
            "tracking_number": number,
            "tracking_url": cat.tracking_url(carrier, number),
            "service_level": "express" if express else "standard",
            "promised_delivery_date": promised.isoformat(),
            "line_ids": [line["line_id"] for line in order.data["lines"]],
        }
        self._emit(t, "shipment.created", shipment)
        order.delivery = rng.choices(list(PLAN_WEIGHTS), list(PLAN_WEIGHTS.values()))[0]
        speed = 0.6 if express else 1.0
        plan = PLANS[order.delivery]
        for index, (days, status, where) in enumerate(plan):
            # A little jitter, never enough to swap two scans (they are at least 0.2 story days apart).
            at = t + self.day * (days * speed + rng.uniform(0, 0.05))
            last = index == len(plan) - 1
            self._at(at, lambda at, s=status, w=where, e=last: self._scan(at, order, shipment, s, w, promised, e))

    def _scan(
        self, t: datetime, order: Order, shipment: dict[str, Any], status: str, where: str, promised: date, last: bool
    ) -> None:
        carrier = shipment["carrier"]
        if where == "home":
            place = order.customer.place
            location = {"city": place.city, "postcode": place.postcode, "country": place.country}
        else:
            city, postcode = self.rng.choice(cat.DEPOTS)
            location = {"city": city, "postcode": postcode, "country": "DE"}
        scanned = t - self.day * self.rng.uniform(0.002, 0.01)  # carriers report a little after the scan
        data = {
            "shipment_id": shipment["shipment_id"],
            "order_id": shipment["order_id"],
            "carrier": carrier,
            "tracking_number": shipment["tracking_number"],
            "status": status,
            "raw_status_code": cat.RAW_STATUS[carrier][status],
            "location": location,
            "scanned_at": local_iso(scanned),
        }
        if order.delivery == "late" and status != "in_transit":
            data["estimated_delivery_date"] = (promised + timedelta(days=2)).isoformat()
        self._emit(t, "shipment.status_updated", data)
        if not last:
            return
        if status == "delivered":
            self._after_delivery(t, order)
        else:  # lost or back at the warehouse: the money goes back
            reason = "missing_item" if status == "lost" else "other"
            self._later(t, 0.5, 1.5, lambda at: self._refund_all(at, order, reason))

    def _refund_all(self, t: datetime, order: Order, reason: str) -> None:
        if not order.refunded:
            order.refunded = True
            self._emit(t, "order.refunded", refund_all(order.data, reason, self._id("r")))

    def _after_delivery(self, t: datetime, order: Order) -> None:
        customer = order.customer
        lines = order.data["lines"]
        if self.chance(0.07) and order.data["channel"] != "point_of_sale":
            line = self.rng.choice(lines)
            self._later(t, 2, 10, lambda at: self._return(at, order, line))
        elif self.chance(0.03):
            line = self.rng.choice(lines)
            self._later(t, 0.5, 2, lambda at: self._partial_refund(at, order, [(line, 1)], "damaged"))
        troubled = order.delivery != "on_time"
        if self.chance(0.5 if troubled else 0.35):
            self._later(t, 3, 12, lambda at: self._review(at, order, troubled))
        if self.chance(0.05):
            self._later(t, 5, 20, lambda at: self._moved(at, customer))
        if customer.marketing and self.chance(0.04):
            self._later(t, 5, 30, lambda at: self._unsubscribe(at, customer))
        if self.chance(0.45 * 0.8 ** (customer.orders - 1)):
            channel = order.data["channel"]
            if channel in ("amazon", "ebay"):
                self._later(t, 10, 40, lambda at: self._place_order(at, customer, channel, cart=None))
            else:
                self._later(t, 10, 40, lambda at: self._shop(at, customer))
        elif self.chance(0.02):  # GDPR Art. 17: some customers who do not come back ask to be forgotten
            self._later(t, 10, 30, lambda at: self._erase(at, customer))

    def _return(self, t: datetime, order: Order, line: dict[str, Any]) -> None:
        reason = self.rng.choice(cat.RETURN_REASONS)
        returned = {"line_id": line["line_id"], "quantity": line["quantity"], "reason": reason}
        ids = {
            "return_id": self._id("ret"),
            "order_id": order.data["order_id"],
            "customer_id": order.data["customer_id"],
        }
        self._emit(t, "order.returned", {**ids, "lines": [returned]})
        self._later(t, 1, 3, lambda at: self._partial_refund(at, order, [(line, line["quantity"])], "returned"))

    def _partial_refund(self, t: datetime, order: Order, picks: list[tuple[dict[str, Any], int]], reason: str) -> None:
        refund = refund_lines(order.data, picks, reason, self._id("r"))
        if refund and not order.refunded:
            self._emit(t, "order.refunded", refund)

    def _review(self, t: datetime, order: Order, troubled: bool) -> None:
        customer = order.customer
        if customer.erased:
            return
        mood = self.rng.choices(("good", "mixed", "bad"), (20, 20, 60) if troubled else (85, 10, 5))[0]
        rating, title, body = self.rng.choice(cat.REVIEWS[customer.language][mood])
        review: dict[str, Any] = {
            "review_id": self._id("rv"),
            "customer_id": customer.customer_id,
            "order_id": order.data["order_id"],
        }
        if self.chance(0.7):  # most reviews are of a product, the rest of the shop
            review["product_id"] = self.rng.choice(order.data["lines"])["product_id"]
        review |= {"rating": rating, "title": title, "body": body, "has_photo": self.chance(0.15)}
        self._emit(t, "review.submitted", {**review, "locale": customer.profile["locale"]})

    def _moved(self, t: datetime, customer: Customer) -> None:
        if customer.erased:
            return
        customer.place = self.rng.choices(cat.PLACES, cat.PLACE_WEIGHTS)[0]
        customer.profile = {**customer.profile, "address": self._address(customer.place)}
        if "time_zone" in customer.profile:
            customer.profile["time_zone"] = customer.place.time_zone
        self._emit(t, "customer.updated", dict(customer.profile))  # a full snapshot, as the contract says

    def _unsubscribe(self, t: datetime, customer: Customer) -> None:
        if customer.erased or not customer.marketing:
            return
        customer.marketing = False
        consent = {"customer_id": customer.customer_id, "channel": "email", "purpose": "marketing", "granted": False}
        self._emit(t, "consent.changed", {**consent, "source": "unsubscribe_link"})

    def _erase(self, t: datetime, customer: Customer) -> None:
        if not customer.erased:
            customer.erased = True
            request = {"customer_id": customer.customer_id, "request_id": self._id("gdpr"), "requested_by": "customer"}
            self._emit(t, "customer.erasure_requested", request)
