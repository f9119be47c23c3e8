"""A merchant's notification settings: sender and branding, how customers are addressed, which messages go out
and when, the marketing budget and quiet hours. Absent settings are these defaults."""

from __future__ import annotations

from datetime import time
from typing import Annotated, Literal

from pydantic import AnyUrl, BaseModel, ConfigDict, Field, UrlConstraints, model_validator

EMAIL = r"^[^@\s<>\"',]+@[^@\s<>\"',]+\.[^@\s<>\"',]+$"
#: One line of text: CR/LF in anything that may reach a mail header is header injection.
ONE_LINE = r"^[^\r\n]*$"
HttpsUrl = Annotated[AnyUrl, UrlConstraints(allowed_schemes=["https"], max_length=500)]
Locale = Literal["de", "en"]
Days = Annotated[int, Field(ge=1, le=730)]

#: Messages a merchant may switch off (order and shipping mails the customer relies on are included: a shop
#: that sends its own confirmations switches ours off).
MESSAGES = (
    "order_received", "shipped", "out_for_delivery", "delivered", "delay_apology", "delivery_exception",
    "review_request", "first_order_thank_you", "account_invitation", "cart_reminder", "birthday", "tenure_voucher",
    "points_earned", "points_pending", "points_confirmed", "points_reversed", "points_expiring", "points_expired",
    "tier_reached", "reward_redeemed", "membership_changed", "win_back", "aftercare", "negative_review_reply",
    "positive_review_thanks", "review_alert", "opt_in_confirmation",
)  # fmt: skip


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProductLink(Strict):
    name: str = Field(min_length=1, max_length=100, pattern=ONE_LINE)
    url: HttpsUrl


class AftercareText(Strict):
    headline: str = Field(min_length=1, max_length=150, pattern=ONE_LINE)
    body: str = Field(min_length=1, max_length=2000)


class Aftercare(Strict):
    """Content sent N days after delivery to buyers of one product category."""

    days: Days = 14
    kind: Literal["care", "accessories", "consumables", "successor"] = "care"
    #: The text per language; a customer whose language is missing gets the other one.
    texts: dict[Locale, AftercareText] = Field(min_length=1)
    products: list[ProductLink] = Field(default_factory=list, max_length=6)


class NotificationSettings(Strict):
    #: Shown as the sender and signs every mail; empty: the merchant id.
    sender_name: str = Field("", max_length=80, pattern=ONE_LINE)
    sender_email: str | None = Field(None, max_length=200, pattern=EMAIL)
    reply_to: str | None = Field(None, max_length=200, pattern=EMAIL)
    #: German form of address: informal "du" or formal "Sie" (English has one).
    form_of_address: Literal["du", "Sie"] = "du"
    #: The legal notice German shops must show (Impressum: company, address, register, VAT id), under every mail.
    legal_footer: str = Field("", max_length=2000)
    #: Branding: the logo at the top of every mail (https, about 40 px high) and the accent colour.
    brand_logo_url: HttpsUrl | None = None
    brand_colour: str = Field("#1f6feb", pattern=r"^#[0-9a-fA-F]{6}$")
    shop_url: HttpsUrl | None = None
    #: Where a guest creates an account; without it no account invitation goes out.
    account_url: HttpsUrl | None = None

    #: Marketing consent the shop did not confirm itself (`double_opt_in_confirmed`) waits for the customer's
    #: click in a confirmation mail (German law expects double opt-in for e-mail marketing).
    double_opt_in: bool = True
    disabled_messages: frozenset[Literal[MESSAGES]] = frozenset()  # type: ignore[valid-type]
    #: Marketing frequency budget across all flows: at most `budget_mails` per customer in `budget_days`;
    #: more is deferred to the next free slot, never dropped.
    budget_mails: int = Field(3, ge=1, le=50)
    budget_days: int = Field(7, ge=1, le=60)
    #: Marketing mail waits for the end of the night in the customer's time zone (start == end: no quiet hours).
    quiet_from: time = time(21, 0)
    quiet_until: time = time(8, 0)

    cart_reminder_minutes: int = Field(60, ge=15, le=7 * 24 * 60)
    first_order_thank_you_minutes: int = Field(30, ge=0, le=24 * 60)
    review_request_days: Days = 7
    #: Some products need longer before a fair review (a mattress) or less (coffee): days per category.
    review_request_days_by_category: dict[str, Days] = Field(default_factory=dict, max_length=200)
    #: Aftercare and cross-sell content per product category; the first category of an order that has some wins.
    aftercare: dict[str, Aftercare] = Field(default_factory=dict, max_length=200)
    win_back_days: int = Field(90, ge=14, le=730)
    win_back_code: str | None = Field(None, max_length=40, pattern=r"^[A-Za-z0-9-]+$")
    win_back_percent_off: int | None = Field(None, ge=1, le=90)

    #: Reviews at or below this rating get a personal reply offering to make it right, and alert the team.
    negative_review_max_rating: int = Field(2, ge=1, le=4)
    #: Reviews at or above this rating get a thank-you.
    positive_review_min_rating: int = Field(4, ge=2, le=5)
    #: An extra sentence in the reply to a negative review, per language (e.g. a goodwill voucher).
    review_recovery_offer: dict[Locale, Annotated[str, Field(max_length=500, pattern=ONE_LINE)]] = Field(
        default_factory=dict
    )
    #: A sentence for customers in one country, per language, in the order and shipping mails (customs for
    #: Switzerland, another return address for Austria...): {"CH": {"de": "...", "en": "..."}}.
    region_notes: dict[
        Annotated[str, Field(pattern=r"^[A-Z]{2}$")],
        dict[Locale, Annotated[str, Field(min_length=1, max_length=500, pattern=ONE_LINE)]],
    ] = Field(default_factory=dict, max_length=60)
    review_alert_email: str | None = Field(None, max_length=200, pattern=EMAIL)
    review_alert_locale: Locale = "de"

    @model_validator(mode="after")
    def _consistent(self) -> NotificationSettings:
        if self.negative_review_max_rating >= self.positive_review_min_rating:
            raise ValueError("negative_review_max_rating must be below positive_review_min_rating")
        if (self.win_back_code is None) != (self.win_back_percent_off is None):
            raise ValueError("win_back_code and win_back_percent_off go together")
        return self

    def sends(self, message: str) -> bool:
        return message not in self.disabled_messages
