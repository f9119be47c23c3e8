"""A merchant's points programme: validated configuration, versioned by the adapter on every save.

Every amount of points is a non-negative integer (a fractional or negative value is rejected with its
field path); rates that may be fractional (multipliers) are Decimals so rounding is explicit.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

Points = Annotated[StrictInt, Field(ge=0, le=10_000_000)]
Multiplier = Annotated[Decimal, Field(ge=0, le=100, max_digits=8, decimal_places=4)]
Key = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
Rounding = Literal["floor", "half_up", "ceil"]

_ROUNDING = {"floor": ROUND_FLOOR, "half_up": ROUND_HALF_UP, "ceil": ROUND_CEILING}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Earning(Strict):
    #: 1 point per full euro: points_per_unit=1, unit_minor=100 (1 point per 2 euros: unit_minor=200).
    points_per_unit: Annotated[StrictInt, Field(ge=0, le=10_000)] = 1
    unit_minor: Annotated[StrictInt, Field(ge=1, le=1_000_000)] = 100
    rounding: Rounding = "floor"
    #: Points on what the customer paid for goods: tax and order discounts come off, shipping never earns.
    exclude_tax: bool = True
    exclude_discounts: bool = True
    #: Gift cards are money, not a purchase: they earn nothing by default.
    excluded_categories: tuple[str, ...] = ("gift_card", "gift-card", "gutschein")
    excluded_skus: tuple[str, ...] = ()
    category_multipliers: dict[str, Multiplier] = Field(default_factory=dict)
    sku_multipliers: dict[str, Multiplier] = Field(default_factory=dict)

    def round(self, value: Decimal) -> int:
        return int(value.to_integral_value(rounding=_ROUNDING[self.rounding]))


class Bonuses(Strict):
    signup: Points = 50
    first_order: Points = 100
    review: Points = 20
    review_photo: Points = 50
    birthday: Points = 100
    referral_referrer: Points = 200
    referral_referee: Points = 100
    tenure: Points = 0
    vip: Points = 0
    campaign: Points = 0
    service_recovery: Points = 0
    manual: Points = 0


class Cap(Strict):
    period: Literal["day", "month", "year"]
    max_points: Annotated[StrictInt, Field(ge=1, le=100_000_000)]


class Pending(Strict):
    #: Purchase points wait for delivery plus this return window (Widerruf: 14 days).
    return_window_days: Annotated[StrictInt, Field(ge=0, le=365)] = 14
    #: Without any tracking data, points confirm this long after payment.
    fallback_days: Annotated[StrictInt, Field(ge=0, le=365)] = 30


class Tier(Strict):
    key: Key
    name_de: Annotated[str, Field(min_length=1, max_length=60)]
    name_en: Annotated[str, Field(min_length=1, max_length=60)]
    #: Lifetime points or spend (minor units) within the period needed to hold the tier.
    threshold: Annotated[StrictInt, Field(ge=0)]
    earn_multiplier: Multiplier = Decimal(1)
    free_shipping: bool = False
    exclusive_rewards: tuple[Key, ...] = ()


class Tiers(Strict):
    basis: Literal["points", "spend"] = "points"
    period: Literal["rolling_12_months", "calendar_year"] = "rolling_12_months"
    levels: tuple[Tier, ...] = (
        Tier(key="welcome", name_de="Willkommen", name_en="Welcome", threshold=0),
        Tier(key="silver", name_de="Silber", name_en="Silver", threshold=500, earn_multiplier=Decimal("1.25")),
        Tier(
            key="gold",
            name_de="Gold",
            name_en="Gold",
            threshold=1500,
            earn_multiplier=Decimal("1.5"),
            free_shipping=True,
        ),
    )

    @model_validator(mode="after")
    def _ascending_from_a_welcome_tier(self) -> Tiers:
        if not self.levels:
            raise ValueError("levels: at least the welcome tier (threshold 0) is needed")
        if self.levels[0].threshold != 0:
            raise ValueError("levels[0].threshold: the first (welcome) tier must start at 0")
        thresholds = [t.threshold for t in self.levels]
        if thresholds != sorted(set(thresholds)):
            raise ValueError("levels: thresholds must be strictly ascending")
        keys = [t.key for t in self.levels]
        if len(set(keys)) != len(keys):
            raise ValueError("levels: tier keys must be unique")
        return self

    def for_value(self, value: int) -> Tier:
        reached = self.levels[0]
        for tier in self.levels:
            if value >= tier.threshold:
                reached = tier
        return reached

    def rank(self, key: str | None) -> int:
        return next((i for i, t in enumerate(self.levels) if t.key == key), -1)

    def get(self, key: str | None) -> Tier | None:
        for tier in self.levels:
            if tier.key == key:
                return tier
        return None


class Expiry(Strict):
    #: `inactivity`: all available points lapse N months after the last earning or redemption.
    #: `lot`: each credit lapses N months after it was earned, as far as it was not spent (oldest spent first).
    mode: Literal["none", "inactivity", "lot"] = "inactivity"
    months: Annotated[StrictInt, Field(ge=1, le=120)] = 24
    warning_days: Annotated[StrictInt, Field(ge=0, le=365)] = 30

    @model_validator(mode="after")
    def _lots_within_the_activity_window(self) -> Expiry:
        if self.mode == "lot" and self.months > 24:
            raise ValueError("months: per-lot expiry supports at most 24 months")
        return self


class Goodwill(Strict):
    #: Points for a late parcel, once per shipment (0 switches it off).
    points: Points = 50


class Tenure(Strict):
    """'Thank you for N years with us': a voucher on each anniversary of the first order."""

    enabled: bool = True
    percent_off: Annotated[StrictInt, Field(ge=1, le=100)] = 10
    valid_days: Annotated[StrictInt, Field(ge=1, le=365)] = 30


class BirthdayVoucher(Strict):
    """A discount code in the birthday greeting, besides the birthday points (0 percent: no code)."""

    percent_off: Annotated[StrictInt, Field(ge=0, le=100)] = 10
    valid_days: Annotated[StrictInt, Field(ge=1, le=365)] = 30


class MembershipPlan(Strict):
    name_de: Annotated[str, Field(min_length=1, max_length=60)]
    name_en: Annotated[str, Field(min_length=1, max_length=60)]
    earn_multiplier: Multiplier = Decimal(1)
    free_shipping: bool = False


class PointsPayment(Strict):
    """Points as partial payment: e.g. 100 points = 1 EUR, at least 500 points, at most half the order."""

    enabled: bool = True
    minor_per_point: Annotated[StrictInt, Field(ge=1, le=10_000)] = 1
    min_points: Points = 500
    max_points: Points = 100_000
    max_share_percent: Annotated[StrictInt, Field(ge=1, le=100)] = 50


class ProgrammeConfig(Strict):
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "EUR"
    earning: Earning = Earning()
    bonuses: Bonuses = Bonuses()
    caps: tuple[Cap, ...] = ()
    pending: Pending = Pending()
    tiers: Tiers = Tiers()
    expiry: Expiry = Expiry()
    goodwill: Goodwill = Goodwill()
    tenure: Tenure = Tenure()
    birthday_voucher: BirthdayVoucher = BirthdayVoucher()
    memberships: dict[Key, MembershipPlan] = Field(default_factory=dict)
    points_payment: PointsPayment = PointsPayment()
    #: Discount codes from redemptions stay valid this long.
    code_valid_days: Annotated[StrictInt, Field(ge=1, le=3650)] = 90

    @model_validator(mode="after")
    def _one_cap_per_period(self) -> ProgrammeConfig:
        periods = [c.period for c in self.caps]
        if len(set(periods)) != len(periods):
            raise ValueError("caps: at most one cap per period")
        return self


class Programme(Strict):
    """A saved configuration: `version` goes on every ledger entry it produced (0 = platform default)."""

    version: int = 0
    config: ProgrammeConfig = ProgrammeConfig()


DEFAULT_PROGRAMME = Programme()
