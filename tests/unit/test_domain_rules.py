"""Pure decision functions of the services: no I/O, `now` passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.notifications.domain.messages import Contact, resolve_locale, send_decision
from services.segments.domain.profiles import OrderRow, summarise_orders
from services.tracking.domain.shipments import next_status

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def test_shipment_moves_forward_only() -> None:
    first = next_status(None, None, "label_created", T0)
    assert first is not None and first.to_status == "label_created"
    assert next_status("out_for_delivery", T0, "in_transit", T0 - timedelta(hours=1)) is None  # out of order
    assert next_status("in_transit", T0, "in_transit", T0 + timedelta(hours=1)) is None  # duplicate
    moved = next_status("in_transit", T0, "out_for_delivery", T0 + timedelta(hours=5))
    assert moved is not None and moved.from_status == "in_transit"


def test_delivered_stays_delivered() -> None:
    for scan in ("in_transit", "exception", "out_for_delivery", "lost"):
        assert next_status("delivered", T0, scan, T0 + timedelta(days=1)) is None


def test_failed_attempt_then_second_attempt() -> None:
    failed = next_status("out_for_delivery", T0, "failed_attempt", T0 + timedelta(hours=4))
    assert failed is not None and failed.to_status == "failed_attempt"
    again = next_status("failed_attempt", T0 + timedelta(hours=4), "out_for_delivery", T0 + timedelta(days=1))
    assert again is not None and again.to_status == "out_for_delivery"
    assert next_status("exception", T0, "failed_attempt", T0 - timedelta(hours=2)) is None  # older scan


def test_unknown_and_late_label_scans_never_change_state() -> None:
    assert next_status(None, None, "unknown", T0) is None
    assert next_status("in_transit", T0, "unknown", T0 + timedelta(hours=1)) is None
    assert next_status("in_transit", T0, "label_created", T0 + timedelta(hours=1)) is None


def test_profile_order_figures_do_not_depend_on_arrival_order() -> None:
    late = OrderRow("o2", T0 + timedelta(days=3), 2_000, 0, "EUR", "web_shop", False)
    early = OrderRow("o1", T0, 1_000, 0, "EUR", "amazon", False)
    a, b = summarise_orders([late, early]), summarise_orders([early, late])
    assert a == b and (a.order_count, a.revenue_minor, a.acquisition_channel) == (2, 3_000, "amazon")
    assert a.first_order_at == T0 and a.last_order_at == T0 + timedelta(days=3)


def test_locale_resolution_falls_back_to_german() -> None:
    assert resolve_locale("en-GB") == "en"
    assert resolve_locale("de_AT") == "de"
    assert resolve_locale("fr") == "de"
    assert resolve_locale(None) == "de"


def test_send_decision_waits_for_contact_then_gives_up() -> None:
    give_up = T0 + timedelta(hours=1)
    assert send_decision(None, T0, give_up).verdict == "wait"
    verdict, reason, _ = send_decision(None, give_up, give_up)
    assert verdict == "suppress" and "no contact" in (reason or "")
    no_mail = Contact(email=None, first_name="Anna", last_name=None, salutation=None, locale="de")
    assert send_decision(no_mail, T0, give_up)[0] == "suppress"
    ok = Contact(email="anna@example.de", first_name="Anna", last_name=None, salutation=None, locale="de")
    assert send_decision(ok, T0, give_up).verdict == "send"
