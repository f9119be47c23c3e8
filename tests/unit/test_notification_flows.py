"""The flows notifications runs itself, decided from shop events and the merchant's settings (pure), and the
messages they produce rendered in German (du and Sie) and English."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.common.contract import load_contract
from services.common.envelope import Envelope, new_envelope
from services.notifications.adapters.rendering import Renderer
from services.notifications.domain import flows
from services.notifications.domain.messages import Contact, SendingPolicy, send_decision, template_context
from services.notifications.domain.settings import NotificationSettings
from tests.tracking_events import placed

pytestmark = pytest.mark.unit

MON = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CONTRACT = load_contract()


def order(order_id: str, at: datetime, customer: str = "c1", *, guest: bool = False, category: str = "shoes"):
    event = placed(order_id, at, customer=customer).model_copy(update={"merchant_id": "m1"})
    lines = [{**line, "category": category} for line in event.data["lines"]]
    data = {**event.data, "is_guest_checkout": guest, "lines": lines}
    CONTRACT.validate_data("order.placed", 1, data)
    return event.model_copy(update={"data": data})


def delivered(order_id: str, at: datetime, customer: str = "c1") -> Envelope:
    data = {"order_id": order_id, "customer_id": customer, "delivered_at": at.isoformat(), "shipment_ids": ["s1"]}
    return new_envelope("tracking.order_delivered", "m1", data, occurred_at=at)


def review(rating: int, review_id: str = "rv-1", title: str | None = "Zu spät") -> Envelope:
    data = {"review_id": review_id, "customer_id": "c1", "order_id": "o1", "rating": rating, "has_photo": False,
            "locale": "de"}  # fmt: skip
    if title:
        data["title"] = title
    data["body"] = "Das Paket kam fünf Tage zu spät."
    CONTRACT.validate_data("review.submitted", 1, data)
    return new_envelope("review.submitted", "m1", data, occurred_at=MON)


SETTINGS = NotificationSettings(
    account_url="https://shop.example/konto",
    shop_url="https://shop.example",
    win_back_days=60,
    win_back_code="COMEBACK10",
    win_back_percent_off=10,
    review_request_days_by_category={"mattresses": 30, "coffee": 5},
    aftercare={
        "shoes": {
            "days": 10,
            "kind": "care",
            "texts": {
                "de": {
                    "headline": "Schuhpflege leicht gemacht",
                    "body": "Imprägnieren vor dem ersten Regen schützt das Leder.",
                },
                "en": {"headline": "Keep your shoes looking good", "body": "Waterproof them before the first rain."},
            },
            "products": [{"name": "Imprägnierspray", "url": "https://shop.example/p/spray"}],
        }
    },
    review_recovery_offer={"de": "Als Entschuldigung gibt es 10 € Gutschrift auf die nächste Bestellung."},
    review_alert_email="team@shop.example",
)


def test_a_first_order_gets_a_thank_you_and_win_back_is_armed_by_every_order_and_moved_by_the_next() -> None:
    first, second = order("o1", MON), order("o2", MON + timedelta(days=20))
    decided = flows.decide([first], {"m1": SETTINGS})
    thanks = next(r for r in decided.requests if r.template == "first_order_thank_you")
    assert thanks.not_before == MON + timedelta(minutes=30) and thanks.category == "marketing"
    win_back = next(r for r in decided.requests if r.template == "win_back")
    assert win_back.not_before == MON + timedelta(days=60) and win_back.context["code"] == "COMEBACK10"

    again = flows.decide([second], {"m1": SETTINGS}, customers_with_orders={("m1", "c1")})
    assert "first_order_thank_you" not in [r.template for r in again.requests]  # not the first any more
    (disarm,) = [c for c in again.cancel if c.template == "win_back"]
    assert disarm.trigger_id is None and disarm.keep == "win-back:o2"  # every older win-back, not the new one

    both = flows.decide([first, second], {"m1": SETTINGS})  # in one batch: the later order's win-back survives
    assert [r.trigger_id for r in both.requests if r.template == "win_back"] == ["win-back:o2"]
    assert [r.template for r in both.requests].count("first_order_thank_you") == 1


def test_a_guest_checkout_invites_to_an_account_only_where_the_shop_has_one() -> None:
    guest = order("o1", MON, guest=True)
    (invite,) = [r for r in flows.decide([guest], {"m1": SETTINGS}).requests if r.template == "account_invitation"]
    assert invite.context["account_url"] == "https://shop.example/konto"
    assert "account_invitation" not in [r.template for r in flows.decide([guest]).requests]  # no account page


def test_review_request_waits_per_category_and_aftercare_follows_delivery() -> None:
    facts = flows.decide([order("o1", MON, category="mattresses")]).orders[0]
    assert facts.categories == ("mattresses",)
    decided = flows.decide([delivered("o1", MON)], {"m1": SETTINGS}, {("m1", "o1"): facts})
    (request,) = [r for r in decided.requests if r.template == "review_request"]
    assert request.not_before == MON + timedelta(days=30)  # a mattress needs a month
    shoes = flows.decide([order("o2", MON)]).orders[0]
    decided = flows.decide([delivered("o2", MON)], {"m1": SETTINGS}, {("m1", "o2"): shoes})
    by_template = {r.template: r for r in decided.requests}
    assert by_template["review_request"].not_before == MON + timedelta(days=7)  # the default
    assert by_template["aftercare"].not_before == MON + timedelta(days=10)
    assert by_template["aftercare"].context["products"] == [
        {"name": "Imprägnierspray", "url": "https://shop.example/p/spray"}
    ]
    returned = new_envelope("order.returned", "m1", {"order_id": "o2", "customer_id": "c1"}, occurred_at=MON)
    cancelled = {c.template for c in flows.decide([returned]).cancel}
    assert cancelled == {"review_request", "aftercare"}


def test_a_negative_review_gets_a_personal_reply_and_alerts_the_team_a_positive_one_a_thank_you() -> None:
    decided = flows.decide([review(1)], {"m1": SETTINGS})
    by_template = {r.template: r for r in decided.requests}
    assert set(by_template) == {"negative_review_reply", "review_alert"}
    assert by_template["negative_review_reply"].category == "transactional"
    alert = by_template["review_alert"]
    assert alert.category == "merchant" and alert.context["recipient_email"] == "team@shop.example"
    assert [r.template for r in flows.decide([review(5)], {"m1": SETTINGS}).requests] == ["positive_review_thanks"]
    assert flows.decide([review(3)], {"m1": SETTINGS}).requests == []  # neither: no mail


def test_switched_off_messages_are_never_requested_and_suppressed_with_a_reason_when_asked_for() -> None:
    off = SETTINGS.model_copy(update={"disabled_messages": frozenset({"win_back", "first_order_thank_you"})})
    assert [r.template for r in flows.decide([order("o1", MON)], {"m1": off}).requests] == ["order_received"]
    contact = Contact("a@example.de", "Anna", None, None, "de")
    decision = send_decision(contact, MON, MON, switched_off=True)
    assert decision.verdict == "suppress" and decision.reason == "message switched off by the merchant"


def test_a_merchants_budget_and_quiet_hours_replace_the_defaults() -> None:
    contact = Contact("a@example.de", "Anna", None, None, "de", marketing_consent=True)
    sent = [MON - timedelta(days=1)]
    one_a_fortnight = SendingPolicy(budget_mails=1, budget_window=timedelta(days=14))
    decision = send_decision(contact, MON, MON, "marketing", recent_marketing=sent, policy=one_a_fortnight)
    assert decision.verdict == "defer" and decision.until == sent[0] + timedelta(days=14)
    lunch = SendingPolicy(quiet_from=datetime(2026, 1, 1, 9).time(), quiet_until=datetime(2026, 1, 1, 11).time())
    decision = send_decision(contact, MON, MON, "marketing", policy=lunch)  # 10:00 in Berlin
    assert decision.verdict == "defer" and decision.until == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # 11:00 CET
    never_quiet = SendingPolicy(quiet_from=datetime(2026, 1, 1, 0).time(), quiet_until=datetime(2026, 1, 1, 0).time())
    night = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
    assert send_decision(contact, night, night, "marketing", policy=never_quiet).verdict == "send"


def test_settings_reject_header_injection_and_unsafe_branding() -> None:
    for bad in (
        {"sender_name": "Shop\r\nBcc: all@example.com"},
        {"sender_name": "Shop\n"},
        {"brand_colour": "red; background: url(https://evil.example)"},
        {"brand_logo_url": "javascript:alert(1)"},
        {"brand_logo_url": "http://shop.example/logo.png"},  # mixed content in mail clients: https only
        {"win_back_code": "X"},  # a code without its discount
        {"negative_review_max_rating": 4, "positive_review_min_rating": 4},
        {"disabled_messages": ["no_such_message"]},
    ):
        with pytest.raises(ValidationError):
            NotificationSettings.model_validate(bad)


def facts_for(message: str, locale: str) -> dict:
    """The context each new flow stores, from the flows themselves."""
    first = flows.decide([order("o1", MON, guest=True)], {"m1": SETTINGS})
    shoes = first.orders[0]
    after = flows.decide([delivered("o1", MON)], {"m1": SETTINGS}, {("m1", "o1"): shoes})
    negative = flows.decide([review(1)], {"m1": SETTINGS})
    positive = flows.decide([review(5)], {"m1": SETTINGS})
    requests = {r.template: r.context for d in (first, after, negative, positive) for r in d.requests}
    requests["birthday"] = {"points": 100}
    requests["delay_apology"] = {"promised_delivery_date": "2026-03-04"}
    return requests[message]


NEW_MESSAGES = [
    "first_order_thank_you",
    "account_invitation",
    "win_back",
    "aftercare",
    "negative_review_reply",
    "positive_review_thanks",
    "review_alert",
    "birthday",
]


@pytest.mark.parametrize("message", NEW_MESSAGES)
def test_every_new_message_renders_in_german_du_and_sie_and_english(message: str) -> None:
    renderer = Renderer()
    for locale, formal in (("de", False), ("de", True), ("en", False)):
        context = template_context(
            facts_for(message, locale),
            "Anna",
            "Schuhhaus Müller",
            last_name="Schmidt",
            salutation="frau",
            formal=formal,
            legal_footer="Schuhhaus Müller GmbH · HRB 12345",
        )
        rendered = renderer.render(message, locale, context)
        for part in (rendered.subject, rendered.text, rendered.html):
            assert part and "None" not in part and "{{" not in part and "{%" not in part, (message, part)
        assert "\n\n\n" not in rendered.text and "<p></p>" not in rendered.html
        assert rendered.text.endswith("--\nSchuhhaus Müller GmbH · HRB 12345")
        if locale == "de" and formal:
            assert rendered.text.startswith("Guten Tag Frau Schmidt,") or message == "review_alert"
            assert not re.search(r"\b(du|dich|dir|dein|deine|deiner|deinen)\b", rendered.text + rendered.subject)
        elif locale == "de":
            assert not re.search(r"\b(Ihr|Ihre|Ihnen|Ihrer)\b", rendered.text + rendered.subject), message


def test_the_new_messages_say_what_matters() -> None:
    r = Renderer()

    def render(message: str, locale: str, **extra) -> str:
        return r.render(message, locale, template_context({**facts_for(message, locale), **extra}, "Anna", "S")).text

    assert "https://shop.example/konto" in render("account_invitation", "de")
    assert "10 % Rabatt mit dem Code COMEBACK10" in render("win_back", "de")
    assert "2. März 2026" in render("win_back", "de") and "https://shop.example" in render("win_back", "en")
    aftercare_de, aftercare_en = render("aftercare", "de"), render("aftercare", "en")
    assert "Imprägnieren vor dem ersten Regen schützt das Leder." in aftercare_de
    assert "Imprägnierspray: https://shop.example/p/spray" in aftercare_de
    assert "Waterproof them before the first rain." in aftercare_en  # the customer's language
    assert "10 € Gutschrift auf die nächste Bestellung" in render("negative_review_reply", "de")
    assert "10 €" not in render("negative_review_reply", "en")  # the offer was written in German only
    assert "5-star review" in render("positive_review_thanks", "en")
    assert "1 von 5 Sternen" in render("review_alert", "de") and "fünf Tage zu spät" in render("review_alert", "de")
    assert "100 Punkte gutgeschrieben" in render("birthday", "de")
    assert "As an apology, we have added 50 points" in render("delay_apology", "en", goodwill_points=50)


def test_double_opt_in_asks_unless_the_shop_confirmed_or_runs_it_itself() -> None:
    from services.notifications.domain.consent import consent_changes

    def signup(**extra) -> Envelope:
        data = {"customer_id": "c1", "channel": "email", "purpose": "marketing", "granted": True,
                "source": "checkout", **extra}  # fmt: skip
        CONTRACT.validate_data("consent.changed", 1, data)
        return new_envelope("consent.changed", "m1", data, occurred_at=MON)

    ours, shops = NotificationSettings(), NotificationSettings(double_opt_in=False)
    changes, mails = consent_changes([signup()], {"m1": ours})
    assert [c.action for c in changes] == ["ask"] and [m.template for m in mails] == ["opt_in_confirmation"]
    assert mails[0].category == "transactional"  # to the address itself: no consent needed to ask for it
    changes, mails = consent_changes([signup(double_opt_in_confirmed=True)], {"m1": ours})
    assert [c.action for c in changes] == ["grant"] and mails == []
    assert consent_changes([signup(double_opt_in_confirmed=False)], {"m1": shops}) == ([], [])  # the shop's open
    assert [c.action for c in consent_changes([signup()], {"m1": shops})[0]] == ["grant"]  # the shop vouches
    assert [c.action for c in consent_changes([signup(granted=False)], {"m1": ours})[0]] == ["withdraw"]
