"""Promised and estimated delivery dates.

The promise comes from the shop (shipment.created) or from the merchant's delivery rules: business days per
carrier, service level and destination country, counted without weekends (Saturday optional) and without
German public holidays (the `holidays` package, with the merchant's state if given). The estimate moves with
every scan: hand-over time plus the transit time learned from the merchant's own delivered parcels on that
carrier and lane (median, p90), falling back to the rules' defaults until enough parcels were delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

import holidays
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.tracking.domain.model import Shipment

#: Dates promised to German shoppers are calendar days in German time.
BERLIN = ZoneInfo("Europe/Berlin")
SERVICE_LEVELS = ("standard", "express", "next_day", "same_day", "economy")
CARRIERS = ("dhl", "dpd", "gls", "hermes", "ups", "other")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeliveryTime(Strict):
    """Business days from hand-over to delivery for one carrier/service/country; `*` matches any."""

    carrier: Literal["dhl", "dpd", "gls", "hermes", "ups", "other", "*"] = "*"
    service_level: Literal["standard", "express", "next_day", "same_day", "economy", "*"] = "*"
    country: str = Field("*", pattern=r"^([A-Z]{2}|\*)$")
    business_days: int = Field(ge=0, le=60)


class DeliveryRules(Strict):
    """A merchant's delivery rules; every field has a default that suits a German shop."""

    times: tuple[DeliveryTime, ...] = (
        DeliveryTime(service_level="same_day", business_days=0),
        DeliveryTime(service_level="next_day", business_days=1),
        DeliveryTime(service_level="express", business_days=1),
        DeliveryTime(country="DE", business_days=2),
        DeliveryTime(country="AT", business_days=3),
        DeliveryTime(business_days=5),
    )
    #: Parcels handed over after this local hour count from the next business day.
    cutoff_hour: int = Field(15, ge=0, le=23)
    saturday_delivery: bool = True
    #: German state (ISO 3166-2 suffix, e.g. "NW") whose regional holidays also count; None: national only.
    holiday_subdivision: str | None = Field(None, pattern=r"^[A-Z]{2}$")
    #: Hours without a scan before a parcel counts as stuck, per carrier ("*" for the rest).
    no_movement_hours: dict[str, int] = Field(default_factory=lambda: {"*": 48, "ups": 36})
    #: Delivered parcels a lane needs before its learned transit time replaces the rules.
    min_history: int = Field(20, ge=1, le=10_000)

    @model_validator(mode="after")
    def _has_a_catch_all(self) -> DeliveryRules:
        if not any(t.carrier == "*" and t.service_level == "*" and t.country == "*" for t in self.times):
            raise ValueError("times: needs a catch-all entry (carrier, service_level and country all '*')")
        if any(hours < 1 or hours > 24 * 60 for hours in self.no_movement_hours.values()):
            raise ValueError("no_movement_hours: each value must be between 1 and 1440 hours")
        if "*" not in self.no_movement_hours:
            raise ValueError("no_movement_hours: needs a '*' entry for the other carriers")
        return self

    def business_days_for(self, carrier: str, service_level: str, country: str | None) -> int:
        """The most specific matching entry wins (carrier, then service level, then country)."""
        return _business_days(self.times, carrier, service_level, country or "*")

    def no_movement_limit(self, carrier: str) -> timedelta:
        return timedelta(hours=self.no_movement_hours.get(carrier, self.no_movement_hours["*"]))


@lru_cache(maxsize=4096)
def _business_days(times: tuple[DeliveryTime, ...], carrier: str, service_level: str, country: str) -> int:
    # Memoised: every scan asks again, and the answer depends on nothing but these (hashable, frozen) values.
    def specificity(t: DeliveryTime) -> tuple[int, int, int]:
        return (t.carrier != "*", t.service_level != "*", t.country != "*")

    matching = [
        t
        for t in times
        if t.carrier in ("*", carrier) and t.service_level in ("*", service_level) and t.country in ("*", country)
    ]
    return max(matching, key=specificity).business_days


@lru_cache(maxsize=64)
def _holidays(subdivision: str | None, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("DE", subdiv=subdivision, years=year)


def is_delivery_day(day: date, rules: DeliveryRules | _Calendar) -> bool:
    if day.weekday() == 6 or (day.weekday() == 5 and not rules.saturday_delivery):
        return False
    return day not in _holidays(rules.holiday_subdivision, day.year)


def next_delivery_day(day: date, rules: DeliveryRules | _Calendar) -> date:
    while not is_delivery_day(day, rules):
        day += timedelta(days=1)
    return day


def add_business_days(start: date, days: int, rules: DeliveryRules) -> date:
    """`days` delivery days after `start` (0: `start` itself if it is one, else the next)."""
    return _add_delivery_days(start, days, rules.saturday_delivery, rules.holiday_subdivision)


@lru_cache(maxsize=16_384)
def _add_delivery_days(start: date, days: int, saturday: bool, subdivision: str | None) -> date:
    calendar = _Calendar(saturday, subdivision)
    day = next_delivery_day(start, calendar)
    for _ in range(days):
        day = next_delivery_day(day + timedelta(days=1), calendar)
    return day


@dataclass(frozen=True)
class _Calendar:
    """The two facts of DeliveryRules a delivery day depends on (hashable, for the memoised date arithmetic)."""

    saturday_delivery: bool
    holiday_subdivision: str | None


def local_date(at: datetime) -> date:
    return at.astimezone(BERLIN).date()


def handover_day(at: datetime, rules: DeliveryRules) -> date:
    """The day counting starts: after the cut-off hour it is the next day."""
    local = at.astimezone(BERLIN)
    return local.date() + timedelta(days=1) if local.hour >= rules.cutoff_hour else local.date()


def promised_by_rules(shipment: Shipment, rules: DeliveryRules, at: datetime) -> date:
    days = rules.business_days_for(shipment.carrier, shipment.service_level, shipment.country)
    return add_business_days(handover_day(at, rules), days, rules)


@dataclass(frozen=True)
class TransitTime:
    """Learned from a lane's delivered parcels: hours from hand-over to delivery."""

    median_hours: float
    p90_hours: float
    parcels: int


def estimate(
    shipment: Shipment, rules: DeliveryRules, learned: TransitTime | None, now: datetime
) -> tuple[date | None, date | None]:
    """(expected, latest likely) delivery date; (None, None) once the parcel is final or not yet moving.

    Out for delivery means today. Otherwise hand-over plus the learned median (p90 for the latest likely date),
    or the rules' business days when the lane has too little history. A date already in the past rolls to
    today (or the next delivery day): an overdue parcel is expected as soon as it can come.
    """
    if shipment.final or shipment.direction == "return":
        return None, None
    if shipment.status == "out_for_delivery" and shipment.status_at is not None:
        day = local_date(shipment.status_at)
        return day, day
    start = shipment.started_at
    if start is None:
        return None, None
    if learned is not None and learned.parcels >= rules.min_history:
        expected = local_date(start + timedelta(hours=learned.median_hours))
        latest = local_date(start + timedelta(hours=learned.p90_hours))
        expected, latest = next_delivery_day(expected, rules), next_delivery_day(latest, rules)
    else:
        expected = latest = promised_by_rules(shipment, rules, start)
    if shipment.carrier_estimate is not None and learned is None:
        expected = shipment.carrier_estimate  # the carrier's word beats our defaults, not our own history
        latest = max(latest, expected)
    if expected < local_date(now):
        expected = next_delivery_day(local_date(now), rules)  # overdue: it may still come today
    if latest < expected:
        latest = expected
    return expected, latest


def end_of_day(day: date) -> datetime:
    """The first moment after `day` in German time: when a promise for `day` has passed."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=BERLIN)
