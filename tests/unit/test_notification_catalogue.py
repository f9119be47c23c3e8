"""Every message loyalty and tracking ask for renders in German and English from the facts they really send."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from services.common.contract import load_contract
from services.common.envelope import new_envelope
from services.notifications.adapters.rendering import Renderer
from services.notifications.domain.messages import Contact, request_for, send_decision, template_context
from tests.tracking_events import Tracking, created, scan

pytestmark = pytest.mark.unit

MON = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TEMPLATES = sorted(
    {
        p.name.split(".")[0]
        for p in Renderer().env.loader.searchpath
        and __import__("pathlib").Path(Renderer().env.loader.searchpath[0]).glob("*.j2")
    }
)  # type: ignore[union-attr]


def tracking_requests() -> dict[str, dict]:
    """The notification.requested events of a parcel's life, from the tracking rules themselves."""
    t = Tracking()
    t.board.link_for = lambda merchant, order: f"https://shop.example/t/{order}"
    t.deliver(created("s1", "o1", MON, promised=date(2026, 3, 4)))
    t.deliver(scan("s1", "o1", "exception", MON + timedelta(hours=3), exception_reason="address_problem"))
    t.deliver(scan("s1", "o1", "failed_attempt", MON + timedelta(hours=5)))
    t.look("s1", datetime(2026, 3, 5, 8, tzinfo=UTC))
    t.deliver(scan("s1", "o1", "out_for_delivery", datetime(2026, 3, 6, 7, tzinfo=UTC)))
    t.deliver(scan("s1", "o1", "delivered", datetime(2026, 3, 6, 11, tzinfo=UTC)))
    requests = {}
    for event in t.events:
        if event.type == "notification.requested":
            requests.setdefault(event.data["message"], event.data)
    return requests


LOYALTY_FACTS = {  # as services/loyalty/domain sends them (see each `book.notify`)
    "points_earned": {"points": 50, "balance": 50, "reason": "signup"},
    "points_pending": {"points": 29, "pending_balance": 29, "balance": 50, "order_number": "10042"},
    "points_confirmed": {"points": 29, "balance": 79, "order_number": "10042"},
    "points_reversed": {"points": 10, "balance": 69, "pending_balance": 0, "reason": "return", "order_number": None},
    "points_expiring": {"points": 120, "expires_at": "2026-06-01T00:00:00+00:00"},
    "points_expired": {"points": 120},
    "tier_reached": {
        "tier": "gold",
        "tier_name_de": "Gold",
        "tier_name_en": "Gold",
        "earn_multiplier": "1.5",
        "free_shipping": True,
    },
    "reward_redeemed": {
        "code": "RW-7H2K-9Q",
        "expires_at": "2026-09-01T00:00:00+00:00",
        "points": 500,
        "reward_name": "5 € Rabatt",
        "reward_id": "five-off",
        "reward_type": "fixed_amount",
        "value_minor": 500,
        "currency": "EUR",
    },
    "membership_changed": {
        "plan_id": "club",
        "change": "cancelled",
        "status": "cancelled",
        "valid_until": "2026-12-31T00:00:00+00:00",
        "earn_multiplier": "2",
        "free_shipping": True,
    },
    "tenure_voucher": {
        "years": 2,
        "code": "TEN-2Y-AB12",
        "percent_off": 10,
        "code_expires_at": "2026-04-01T00:00:00+00:00",
    },
}


def test_every_message_has_german_and_english_templates() -> None:
    asked = set(tracking_requests()) | set(LOYALTY_FACTS)
    assert asked <= set(TEMPLATES), f"no template for {asked - set(TEMPLATES)}"


@pytest.mark.parametrize("locale", ["de", "en"])
def test_every_request_renders_with_its_real_facts(locale: str) -> None:
    renderer = Renderer()
    facts = {m: {**d.get("variables", {}), **{k: d[k] for k in ("order_id", "shipment_id") if k in d}}
             for m, d in tracking_requests().items()}  # fmt: skip
    assert set(facts) == {"shipped", "out_for_delivery", "delivered", "delay_apology", "delivery_exception"}
    for message, variables in {**facts, **LOYALTY_FACTS}.items():
        rendered = renderer.render(message, locale, template_context(variables, "Anna", "Schuhhaus Müller"))
        for part in (rendered.subject, rendered.text, rendered.html):
            assert part and "None" not in part and "{{" not in part and "{%" not in part, (message, part)
        assert rendered.text.startswith("Hallo Anna," if locale == "de" else "Hello Anna,")
        assert "\n\n\n" not in rendered.text and "<p></p>" not in rendered.html


def test_shipping_mail_links_the_tracking_page_and_says_when() -> None:
    request = tracking_requests()["shipped"]
    context = template_context(request["variables"], None, "Schuhhaus Müller")
    de = Renderer().render("shipped", "de", context)
    assert "mit DHL (Sendungsnummer TNs1)" in de.text and "https://shop.example/t/o1" in de.text
    assert "Voraussichtliche Zustellung: 4. März 2026." in de.text and de.text.startswith("Hallo,")
    apology = Renderer().render(
        "delay_apology", "en", template_context(tracking_requests()["delay_apology"]["variables"], None, "S")
    )
    assert re.search(r"we promised 4 March 2026", apology.text)


def test_a_request_is_one_notification_per_trigger_and_marketing_waits_for_consent() -> None:
    data = {"customer_id": "c1", "message": "tenure_voucher", "category": "marketing",
            "trigger_id": "loyalty:tenure_voucher:x", "variables": LOYALTY_FACTS["tenure_voucher"]}  # fmt: skip
    first = request_for(new_envelope("notification.requested", "m1", data, occurred_at=MON), MON)
    again = request_for(new_envelope("notification.requested", "m1", data, occurred_at=MON), MON)
    assert first is not None and again is not None and first.notification_id == again.notification_id
    assert first.category == "marketing" and first.template == "tenure_voucher"
    contact = Contact("a@example.de", "Anna", None, None, "de", marketing_consent=False)
    assert send_decision(contact, MON, first.give_up_at, "marketing")[:2] == ("suppress", "no marketing consent")
    assert send_decision(contact, MON, first.give_up_at, "transactional").verdict == "send"
    consenting = Contact("a@example.de", "Anna", None, None, "de", marketing_consent=True)
    assert send_decision(consenting, MON, first.give_up_at, "marketing").verdict == "send"  # 10:00 in Berlin


def test_marketing_waits_for_the_customers_morning_and_transactional_mail_never_waits() -> None:
    contact = Contact("a@example.de", "Anna", None, None, "de", marketing_consent=True)
    late = datetime(2026, 3, 2, 21, 30, tzinfo=UTC)  # 22:30 in Berlin
    decision = send_decision(contact, late, late, "marketing")
    assert decision.verdict == "defer" and decision.until == datetime(2026, 3, 3, 7, 0, tzinfo=UTC)
    assert send_decision(contact, late, late, "transactional").verdict == "send"
    in_new_york = Contact(
        "a@example.de", "Anna", None, None, "en", marketing_consent=True, time_zone="America/New_York"
    )
    assert send_decision(in_new_york, late, late, "marketing").verdict == "send"  # 16:30 there
    summer_dawn = datetime(2026, 7, 1, 5, 0, tzinfo=UTC)  # 07:00 in Berlin (summer time)
    assert send_decision(contact, summer_dawn, summer_dawn, "marketing").until == datetime(2026, 7, 1, 6, 0, tzinfo=UTC)


def test_a_stale_trigger_never_mails_even_transactional() -> None:
    contact = Contact("a@example.de", "Anna", None, None, "de")
    old = MON - timedelta(days=4)  # replayed from a backfill
    decision = send_decision(contact, MON, MON, "transactional", trigger_at=old)
    assert decision.verdict == "suppress" and decision.reason is not None and "stale" in decision.reason
    assert send_decision(contact, MON, MON, trigger_at=MON - timedelta(days=2)).verdict == "send"


def test_shop_flows_order_received_cart_reminder_cancelled_by_the_order_and_review_request() -> None:
    from services.notifications.domain import flows
    from tests.tracking_events import placed

    cart = new_envelope(
        "cart.updated",
        "m1",
        {"cart_id": "cart-1", "customer_id": "c1", "currency": "EUR", "total_minor": 4990,
         "recovery_url": "https://shop.example/cart/cart-1",
         "lines": [{"line_id": "L1", "sku": "sku-1", "product_id": "p-1", "name": "Schuh", "category": "shoes",
                    "quantity": 2, "unit_price_minor": 2495, "total_minor": 4990}]},
        occurred_at=MON,
    )  # fmt: skip
    load_contract().validate_data("cart.updated", 1, cart.data)  # the flow reads the contract's real fields
    (reminder,) = flows.decide([cart]).replace
    assert reminder.template == "cart_reminder" and reminder.category == "marketing"
    assert reminder.not_before == MON + timedelta(hours=1) and reminder.trigger_at == reminder.not_before
    order = placed("o1", MON + timedelta(minutes=20)).model_copy(update={"merchant_id": "m1"})
    decided = flows.decide([order])
    assert [r.template for r in decided.requests] == ["order_received", "first_order_thank_you", "win_back"]
    assert decided.cancel[0] == flows.Cancel("m1", "c1", "cart_reminder", "cancelled: the order arrived")
    delivered = new_envelope(
        "tracking.order_delivered",
        "m1",
        {"order_id": "o1", "customer_id": "c1", "delivered_at": MON.isoformat(), "shipment_ids": ["s1"]},
        occurred_at=MON,
    )
    (review,) = flows.decide([delivered]).requests
    assert review.template == "review_request" and review.not_before == MON + timedelta(days=7)
    for message, facts in (
        ("order_received", {**decided.requests[0].context}),
        ("cart_reminder", reminder.context),
        ("review_request", review.context),
    ):
        for locale in ("de", "en"):
            rendered = Renderer().render(message, locale, template_context(facts, "Anna", "Schuhhaus"))
            assert "None" not in rendered.text and "{{" not in rendered.text
    de = Renderer().render("cart_reminder", "de", template_context(reminder.context, None, "S"))
    assert "2 Artikel für 49,90\xa0€" in de.text and "https://shop.example/cart/cart-1" in de.text


@pytest.mark.parametrize("message", sorted(LOYALTY_FACTS))
def test_the_formal_form_of_address_greets_by_salutation_and_uses_sie(message: str) -> None:
    context = template_context(
        LOYALTY_FACTS[message],
        "Anna",
        "Schuhhaus Müller",
        last_name="Schmidt",
        salutation="frau",
        formal=True,
        legal_footer="Schuhhaus Müller GmbH · Hauptstr. 1 · 44135 Dortmund · HRB 12345",
    )
    rendered = Renderer().render(message, "de", context)
    assert rendered.text.startswith("Guten Tag Frau Schmidt,") and "Freundliche Grüße" in rendered.text
    assert not re.search(r"\b(du|dich|dir|dein|deine|deiner|deinen)\b", rendered.text + rendered.subject)
    assert rendered.text.endswith("--\nSchuhhaus Müller GmbH · Hauptstr. 1 · 44135 Dortmund · HRB 12345")
    assert "HRB 12345" in rendered.html


def test_informal_mails_never_say_sie_and_unnamed_formal_mails_greet_neutrally() -> None:
    for message, facts in LOYALTY_FACTS.items():
        du = Renderer().render(message, "de", template_context(facts, "Anna", "S"))
        assert not re.search(r"\b(Ihr|Ihre|Ihnen|Ihrer)\b", du.text + du.subject), message
    neutral = template_context(LOYALTY_FACTS["points_earned"], None, "S", salutation="none", formal=True)
    assert Renderer().render("points_earned", "de", neutral).text.startswith("Guten Tag,")


def test_the_marketing_budget_defers_to_the_next_free_slot_and_never_holds_transactional_mail() -> None:
    contact = Contact("a@example.de", "Anna", None, None, "de", True)
    sent = [MON - timedelta(days=6), MON - timedelta(days=2), MON - timedelta(hours=3)]
    over = send_decision(contact, MON, MON, "marketing", recent_marketing=sent)
    assert over.verdict == "defer" and over.until == MON + timedelta(days=1)  # when the oldest leaves the week
    assert send_decision(contact, MON, MON, "marketing", recent_marketing=sent[1:]).verdict == "send"
    old = [MON - timedelta(days=9), *sent[1:]]  # outside the window: does not count
    assert send_decision(contact, MON, MON, "marketing", recent_marketing=old).verdict == "send"
    assert send_decision(contact, MON, MON, "transactional", recent_marketing=sent * 3).verdict == "send"
