"""The simulated shop's story, pure and seeded: customers sign up, shop, get parcels, review, come back."""

from __future__ import annotations

import heapq
import itertools
import random
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from services.platform import simulator_catalogue as cat
from services.platform.simulator_delivery import DeliveryStory
from services.platform.simulator_orders import Customer, Order, build_order, iso, pick_lines

#: Measured average events per journey; arrivals are paced with it (see `_arrival_rate`).
EVENTS_PER_JOURNEY = 13.0


class ShopSimulation(DeliveryStory):
    """`next_events(now)` returns the gateway-input events (no merchant_id) whose story time has come.

    One story day lasts `day_seconds` of wall time, so a demo shows deliveries and reviews within minutes;
    event times are the wall-clock moments the events are due, never later than `now`. New customers
    arrive as a Poisson process tuned so the whole shop emits about `events_per_second`. The same seed
    and the same `now`s give the same story; `run` varies only the ids, so a restarted shop is new data.
    """

    def __init__(self, seed: int = 7, *, events_per_second: float = 5.0, day_seconds: float = 30.0, run: str = ""):
        if events_per_second <= 0 or day_seconds <= 0:
            raise ValueError("events_per_second and day_seconds must be positive")
        self.rng = random.Random(seed)
        self._ids = random.Random(f"{seed}/{run}")
        self._prefix = f"{run}-" if run else ""
        self.events_per_second = events_per_second
        self.day = timedelta(seconds=day_seconds)
        self.counts: Counter[str] = Counter()
        self._heap: list[tuple[datetime, int, Callable[[datetime], None]]] = []
        self._seq = itertools.count()
        self._numbers = itertools.count(10_000_001)
        self._serials: dict[str, itertools.count[int]] = {}
        self._out: list[dict[str, Any]] = []
        self._start: datetime | None = None
        self._next_arrival: datetime | None = None
        self._journeys = 0

    # --- driving ---------------------------------------------------------------------------------------------

    def next_events(self, now: datetime) -> list[dict[str, Any]]:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if self._start is None or self._next_arrival is None:
            self._start = self._next_arrival = now
        while True:
            step_at = self._heap[0][0] if self._heap else None
            if step_at is not None and step_at <= now and step_at <= self._next_arrival:
                _, _, step = heapq.heappop(self._heap)
                step(step_at)
            elif self._next_arrival <= now:
                self._new_customer(self._next_arrival)
                self._next_arrival += timedelta(seconds=self.rng.expovariate(self._arrival_rate(self._next_arrival)))
            else:
                break
        out, self._out = self._out, []
        return out

    def _arrival_rate(self, at: datetime) -> float:
        """New customers per second: the target over events per journey, nudged by how far behind or ahead we are.

        At start-up most journeys are young and have emitted little, so arrivals run faster for a while.
        """
        assert self._start is not None
        expected = self.events_per_second * (at - self._start).total_seconds()
        behind = (expected - sum(self.counts.values())) / max(self.events_per_second * 30, 30)
        return self.events_per_second / EVENTS_PER_JOURNEY * min(3.0, max(0.3, 1 + behind))

    def _at(self, moment: datetime, step: Callable[[datetime], None]) -> None:
        heapq.heappush(self._heap, (moment, next(self._seq), step))

    def _later(self, moment: datetime, low_days: float, high_days: float, step: Callable[[datetime], None]) -> None:
        self._at(moment + self.day * self.rng.uniform(low_days, high_days), step)

    def _emit(self, moment: datetime, event_type: str, data: dict[str, Any]) -> None:
        self.counts[event_type] += 1
        event_id = uuid.UUID(int=self._ids.getrandbits(128), version=4)
        self._out.append(
            {
                "event_id": str(event_id),
                "type": event_type,
                "schema_version": 1,
                "occurred_at": iso(moment),
                "data": data,
            }
        )

    def _id(self, kind: str) -> str:
        """Serial ids per kind (`c-000042`, `o-<run>-000007`): unique, short, and readable in a demo."""
        serial = next(self._serials.setdefault(kind, itertools.count(1)))
        return f"{kind}-{self._prefix}{serial:06d}"

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    # --- customers --------------------------------------------------------------------------------------------

    def _new_customer(self, t: datetime) -> None:
        self._journeys += 1
        rng = self.rng
        channel = rng.choices(cat.FIRST_ORDER_CHANNELS, cat.FIRST_ORDER_CHANNEL_WEIGHTS)[0]
        guest = channel == "web_shop" and self.chance(0.2)
        language = "en" if self.chance(0.12) else "de"
        first, salutation = rng.choice(cat.GERMAN_FIRST if language == "de" else cat.ENGLISH_FIRST)
        last = rng.choice(cat.GERMAN_LAST if language == "de" else cat.ENGLISH_LAST)
        place = rng.choices(cat.PLACES, cat.PLACE_WEIGHTS)[0]
        customer_id = self._id("g" if guest else "c")
        local = f"{first}.{last}".lower().replace("'", "").replace("ı", "i")
        local = local.replace("ü", "ue").replace("ö", "oe").replace("ä", "ae")
        email = f"{local}.{customer_id[-4:]}@{rng.choice(cat.MAIL_DOMAINS)}"
        if channel in ("amazon", "ebay"):  # marketplaces relay mail through their own addresses
            email = f"{self._ids.getrandbits(48):012x}@marketplace.{channel}.de"
        profile: dict[str, Any] = {
            "customer_id": customer_id,
            "email": email,
            "first_name": first,
            "last_name": last,
            "salutation": salutation,
            "locale": rng.choice(("de", "de-DE", "de-DE", "de-AT") if language == "de" else ("en", "en-GB")),
            "is_guest": guest,
        }
        if language == "de":
            profile["form_of_address"] = rng.choices(("du", "sie"), (7, 3))[0]
        if not guest:
            profile["time_zone"] = place.time_zone
            profile["acquisition_channel"] = (
                channel
                if channel == "point_of_sale"
                else rng.choices(cat.ACQUISITION_CHANNELS, cat.ACQUISITION_WEIGHTS)[0]
            )
            if self.chance(0.6):
                profile["birthday"] = (date(1950, 1, 1) + timedelta(days=rng.randrange(20_500))).isoformat()
            if self.chance(0.4):
                profile["phone"] = f"+49{rng.choice(cat.MOBILE_PREFIXES)}{rng.randrange(10**7, 10**8)}"
        profile["address"] = self._address(place)
        customer = Customer(customer_id, profile, place, language)
        self._emit(t, "customer.created", dict(profile))
        if channel == "web_shop":
            if self.chance(0.7):
                self._later(t, 0.001, 0.004, lambda at: self._opt_in(at, customer))
            if not guest and self.chance(0.15):  # the paid club (EMP Backstage Club style), a day or two in
                self._later(t, 1.0, 2.0, lambda at: self._membership(at, customer))
            self._later(t, 0.001, 0.003, lambda at: self._shop(at, customer))
        else:
            self._later(t, 0.001, 0.01, lambda at: self._place_order(at, customer, channel, cart=None))

    def _membership(self, t: datetime, customer: Customer) -> None:
        """Buys the club; renews, or cancels (perks to the end of the term) and lapses.

        The term is 10 story days, short enough that a demo run shows renewals and lapses.
        """
        if customer.erased:
            return
        membership = {"membership_id": self._id("mb"), "customer_id": customer.customer_id, "plan_id": "club"}
        until = t + self.day * 10
        price = {"price_minor": 2900, "currency": "EUR"}
        self._emit(t, "membership.purchased", {**membership, "valid_until": until.isoformat(), **price})
        if self.chance(0.5):
            renewed = until + self.day * 10
            self._at(
                until,
                lambda at: self._emit(
                    at, "membership.renewed", {**membership, "valid_until": renewed.isoformat(), **price}
                ),
            )
        else:
            self._later(
                t,
                2.0,
                6.0,
                lambda at: self._emit(at, "membership.cancelled", {**membership, "valid_until": until.isoformat()}),
            )
            self._at(until, lambda at: self._emit(at, "membership.expired", membership))

    def _address(self, place: cat.Place) -> dict[str, Any]:
        street = f"{place.street} {self.rng.randrange(1, 150)}"
        return {"street": street, "city": place.city, "postcode": place.postcode, "country": place.country}

    def _opt_in(self, t: datetime, customer: Customer) -> None:
        """Newsletter at checkout; German law wants the Double-Opt-In click before any marketing mail."""
        consent = {"customer_id": customer.customer_id, "channel": "email", "purpose": "marketing", "granted": True}
        self._emit(t, "consent.changed", {**consent, "source": "checkout", "double_opt_in_confirmed": False})
        if self.chance(0.85):

            def confirm(at: datetime) -> None:
                customer.marketing = True
                data = {**consent, "source": "double_opt_in", "double_opt_in_confirmed": True}
                self._emit(at, "consent.changed", {**data, "consent_text_version": "newsletter-2025-01"})

            self._later(t, 0.01, 0.05, confirm)

    def _shop(self, t: datetime, customer: Customer) -> None:
        if customer.erased:
            return
        rng = self.rng
        lines = pick_lines(rng)
        cart_id = self._id("cart")
        for count in range(1, len(lines) + 1):  # one update per added item, a few seconds apart
            at = t + self.day * 0.0005 * count
            self._at(at, lambda at, n=count: self._cart(at, customer, cart_id, lines[:n]))
        done = t + self.day * 0.0005 * (len(lines) + 1)
        if self.chance(0.25):  # abandoned; some come back a day or two later and buy after all
            if self.chance(0.4):
                self._later(done, 1.0, 2.0, lambda at: self._cart_again(at, customer, cart_id, lines))
            return
        self._at(done, lambda at: self._place_order(at, customer, "web_shop", cart=(cart_id, lines)))

    def _cart(self, t: datetime, customer: Customer, cart_id: str, lines: list[dict[str, Any]]) -> None:
        data = {
            "cart_id": cart_id,
            "customer_id": customer.customer_id,
            "email": customer.profile["email"],
            "currency": "EUR",
            "lines": lines,
            "total_minor": sum(line["total_minor"] for line in lines),
            "recovery_url": f"https://shop.example.de/warenkorb/wiederherstellen/{cart_id}",
        }
        self._emit(t, "cart.updated", data)

    def _cart_again(self, t: datetime, customer: Customer, cart_id: str, lines: list[dict[str, Any]]) -> None:
        if not customer.erased:
            self._cart(t, customer, cart_id, lines)
            self._later(t, 0.001, 0.003, lambda at: self._place_order(at, customer, "web_shop", cart=(cart_id, lines)))

    # --- orders -------------------------------------------------------------------------------------------------

    def _place_order(
        self, t: datetime, customer: Customer, channel: str, cart: tuple[str, list[dict[str, Any]]] | None
    ) -> None:
        if customer.erased:
            return
        lines = cart[1] if cart else pick_lines(self.rng)
        data = build_order(self.rng, customer, channel, lines, order_id=self._id("o"), number=next(self._numbers))
        order = Order(customer, data)
        customer.orders += 1
        self._emit(t, "order.placed", data)
        if cart:
            checked_out = {"cart_id": cart[0], "customer_id": customer.customer_id, "order_id": data["order_id"]}
            self._emit(t, "cart.checked_out", checked_out)
        method = data["payment_method"]
        if method in ("invoice", "prepayment", "sepa_direct_debit") and self.chance(0.04):
            self._later(t, 3, 7, lambda at: self._cancel(at, order, "payment_failed"))
            return
        late_payer = method in ("invoice", "prepayment")
        self._later(t, *((1, 5) if late_payer else (0.0005, 0.002)), lambda at: self._paid(at, order))
        if channel == "point_of_sale":  # handed over at the till: no parcel
            order.delivery = "on_time"
            self._later(t, 3, 10, lambda at: self._after_delivery(at, order))
        elif self.chance(0.02):
            self._later(t, 0.05, 0.2, lambda at: self._cancel(at, order, "customer_request"))
        elif method != "prepayment":  # Vorkasse ships only once the money is there (see _paid)
            self._later(t, 0.3, 1.0, lambda at: self._ship(at, order))

    def _paid(self, t: datetime, order: Order) -> None:
        if order.cancelled:
            return
        data = order.data
        paid = {"order_id": data["order_id"], "customer_id": data["customer_id"], "amount_minor": data["total_minor"]}
        paid |= {"currency": "EUR", "payment_method": data["payment_method"]}
        if data["payment_method"] in ("paypal", "credit_card", "klarna", "apple_pay", "google_pay"):
            paid["payment_reference"] = f"PAY-{self._ids.getrandbits(48):012X}"
        self._emit(t, "order.paid", paid)
        order.paid = True
        if data["payment_method"] == "prepayment" and data["channel"] != "point_of_sale":
            self._later(t, 0.3, 1.0, lambda at: self._ship(at, order))

    def _cancel(self, t: datetime, order: Order, reason: str) -> None:
        if order.shipped:
            return
        order.cancelled = True
        who = "system" if reason == "payment_failed" else "customer"
        ids = {"order_id": order.data["order_id"], "customer_id": order.customer.customer_id}
        self._emit(t, "order.cancelled", {**ids, "reason": reason, "cancelled_by": who})
        if order.paid:
            self._later(t, 0.05, 0.3, lambda at: self._refund_all(at, order, "cancelled"))
