"""Tracking's rules in memory: state machine, split orders, promises, estimates, delays, returns."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.tracking.domain.delays import next_check
from services.tracking.domain.model import Shipment
from services.tracking.domain.promise import (
    DeliveryRules,
    DeliveryTime,
    TransitTime,
    add_business_days,
    end_of_day,
    promised_by_rules,
)
from tests.tracking_events import Tracking, created, placed, scan, types

pytestmark = pytest.mark.unit

MON = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Berlin


def test_out_of_order_and_duplicate_scans_never_move_a_parcel_backwards() -> None:
    t = Tracking()
    t.deliver(created("s1", "o1", MON, promised=date(2026, 3, 4)))
    t.deliver(scan("s1", "o1", "in_transit", MON + timedelta(hours=2)))
    t.deliver(scan("s1", "o1", "delivered", MON + timedelta(days=1)))
    late = t.deliver(
        scan("s1", "o1", "out_for_delivery", MON + timedelta(hours=20)),  # older than delivered: history only
        scan("s1", "o1", "in_transit", MON + timedelta(hours=2)),  # a duplicate
        scan("s1", "o1", "exception", MON + timedelta(days=2), exception_reason="damaged"),  # after delivery
    )
    assert t.shipment("s1").status == "delivered"
    assert "tracking.shipment_status_changed" not in types(late)
    changes = [e.data["to_status"] for e in t.events if e.type == "tracking.shipment_status_changed"]
    assert changes == ["in_transit", "delivered"]


def test_a_second_delivery_attempt_moves_on_from_a_failed_one() -> None:
    t = Tracking()
    t.deliver(created("s1", "o1", MON, promised=date(2026, 3, 5)))
    events = t.deliver(
        scan("s1", "o1", "out_for_delivery", MON + timedelta(hours=24)),
        scan("s1", "o1", "failed_attempt", MON + timedelta(hours=30)),
        scan("s1", "o1", "out_for_delivery", MON + timedelta(hours=48)),
        scan("s1", "o1", "delivered", MON + timedelta(hours=50)),
    )
    changes = [e.data["to_status"] for e in events if e.type == "tracking.shipment_status_changed"]
    assert changes == ["out_for_delivery", "failed_attempt", "out_for_delivery", "delivered"]
    exception = next(e for e in events if e.type == "tracking.shipment_exception")
    assert exception.data["reason"] == "failed_attempt"
    cleared = next(e for e in events if e.type == "tracking.shipment_problem_cleared")
    assert (cleared.data["problem"], cleared.data["reason"]) == ("exception", "failed_attempt")
    messages = [e.data["message"] for e in events if e.type == "notification.requested"]
    assert messages == ["out_for_delivery", "delivery_exception", "out_for_delivery", "delivered"]


def test_a_split_order_is_delivered_when_its_last_parcel_is_and_only_once() -> None:
    t = Tracking()
    t.deliver(placed("o1", MON, lines=("L1", "L2", "L3")))
    t.deliver(created("s1", "o1", MON, lines=("L1", "L2"), promised=date(2026, 3, 4)))
    first = t.deliver(scan("s1", "o1", "delivered", MON + timedelta(days=1)))
    assert "tracking.shipment_delivered" in types(first)
    assert "tracking.order_delivered" not in types(first)  # L3 has not even shipped yet
    t.deliver(created("s2", "o1", MON + timedelta(days=2), lines=("L3",), promised=date(2026, 3, 6)))
    last_at = MON + timedelta(days=3, hours=4)
    done = t.deliver(scan("s2", "o1", "delivered", last_at))
    (order_delivered,) = [e for e in done if e.type == "tracking.order_delivered"]
    assert order_delivered.data["delivered_at"] == last_at.isoformat()
    assert order_delivered.data["shipment_ids"] == ["s1", "s2"]
    again = t.deliver(scan("s2", "o1", "delivered", last_at + timedelta(hours=1)))
    assert "tracking.order_delivered" not in types(again)


def test_without_the_order_all_known_parcels_decide() -> None:
    t = Tracking()
    t.deliver(created("s1", "o9", MON, promised=date(2026, 3, 4)))
    events = t.deliver(scan("s1", "o9", "delivered", MON + timedelta(days=1)))
    assert "tracking.order_delivered" in types(events)


def test_promise_from_rules_counts_delivery_days_without_sundays_and_german_holidays() -> None:
    rules = DeliveryRules()
    # Handed over Thursday 24 Dec 2026 at 16:00 in Berlin (after the 15:00 cut-off): counting starts from the
    # 25th, a holiday; the 26th (holiday, Saturday) and 27th (Sunday) are no delivery days either, so the 28th
    # is day 0 and two delivery days later is the 30th.
    s = Shipment("m", "s", "o", "dhl", country="DE")
    handed_over = datetime(2026, 12, 24, 15, 0, tzinfo=UTC)
    assert promised_by_rules(s, rules, handed_over) == date(2026, 12, 30)
    assert promised_by_rules(s, rules, handed_over - timedelta(hours=2)) == date(2026, 12, 29)  # before cut-off
    assert add_business_days(date(2026, 4, 2), 1, rules) == date(2026, 4, 4)  # Good Friday skipped, Saturday counts
    no_saturday = DeliveryRules(saturday_delivery=False)
    assert add_business_days(date(2026, 4, 2), 1, no_saturday) == date(2026, 4, 7)  # and Easter Monday


def test_the_most_specific_delivery_time_wins() -> None:
    rules = DeliveryRules(
        times=(
            DeliveryTime(business_days=6),
            DeliveryTime(country="DE", business_days=2),
            DeliveryTime(carrier="hermes", country="DE", business_days=3),
            DeliveryTime(service_level="express", business_days=1),
        )
    )
    assert rules.business_days_for("hermes", "standard", "DE") == 3
    assert rules.business_days_for("dhl", "standard", "DE") == 2
    assert rules.business_days_for("dhl", "express", "FR") == 1
    assert rules.business_days_for("dhl", "standard", "FR") == 6


def test_bad_rules_name_the_field() -> None:
    with pytest.raises(ValidationError, match="catch-all"):
        DeliveryRules(times=(DeliveryTime(country="DE", business_days=2),))
    with pytest.raises(ValidationError, match="business_days"):
        DeliveryTime(business_days=-1)
    with pytest.raises(ValidationError, match="no_movement_hours"):
        DeliveryRules(no_movement_hours={"dhl": 24})


def test_promise_passed_is_reported_once_at_the_end_of_the_promised_day() -> None:
    t = Tracking()
    promised = date(2026, 3, 4)  # what the rules give for Germany: two delivery days
    t.deliver(created("s1", "o1", MON, promised=promised))
    t.deliver(
        scan("s1", "o1", "in_transit", MON + timedelta(hours=3)),
        scan("s1", "o1", "in_transit", MON + timedelta(hours=30)),
    )
    assert t.shipment("s1").estimated_date == promised and t.shipment("s1").problems == {}
    assert t.next_check("s1") == end_of_day(promised)  # before the 48 h no-movement limit
    assert t.look("s1", end_of_day(promised) - timedelta(seconds=1)) == []
    late = t.look("s1", end_of_day(promised))
    (delayed,) = [e for e in late if e.type == "tracking.shipment_delayed"]
    assert delayed.data["reason"] == "promise_passed"
    assert delayed.data["estimated_delivery_date"] == "2026-03-05"  # overdue: expected as soon as it can come
    assert [e.data["message"] for e in late if e.type == "notification.requested"] == ["delay_apology"]
    assert t.look("s1", end_of_day(promised) + timedelta(hours=2)) == []  # reported once
    delivered = t.deliver(scan("s1", "o1", "delivered", end_of_day(promised) + timedelta(hours=9)))
    (cleared,) = [e for e in delivered if e.type == "tracking.shipment_problem_cleared"]
    assert cleared.data["problem"] == "delayed"
    assert next(e for e in delivered if e.type == "tracking.shipment_delivered").data["on_time"] is False


def test_a_parcel_without_scans_for_the_carriers_limit_is_stuck_until_it_moves() -> None:
    t = Tracking()
    t.deliver(created("s1", "o1", MON, promised=date(2026, 3, 10), carrier="ups"))
    t.deliver(scan("s1", "o1", "in_transit", MON, carrier="ups"))
    assert t.next_check("s1") == MON + timedelta(hours=36)  # UPS: 36 h by default
    stuck = t.look("s1", MON + timedelta(hours=36))
    (event,) = [e for e in stuck if e.type == "tracking.shipment_stuck"]
    assert event.data["hours_without_scan"] == 36 and event.data["status"] == "in_transit"
    moving = t.deliver(scan("s1", "o1", "in_transit", MON + timedelta(hours=40), carrier="ups"))
    assert [e.data["problem"] for e in moving if e.type == "tracking.shipment_problem_cleared"] == ["stuck"]
    assert t.next_check("s1") == end_of_day(date(2026, 3, 10))  # stuck once per parcel: no second stall check


def test_an_estimate_after_the_promise_is_reported_with_the_new_date() -> None:
    slow_lane = TransitTime(median_hours=96, p90_hours=130, parcels=50)  # learned: four days on this lane
    t = Tracking(transit=slow_lane)
    # known late from the moment the label exists: before the customer could notice
    events = t.deliver(created("s1", "o1", MON, promised=date(2026, 3, 4), shipped_at=MON.isoformat()))
    assert t.deliver(scan("s1", "o1", "in_transit", MON + timedelta(hours=5))) == [
        e for e in t.events[-1:] if e.type == "tracking.shipment_status_changed"
    ]
    (delayed,) = [e for e in events if e.type == "tracking.shipment_delayed"]
    assert delayed.data["reason"] == "estimate_after_promise"
    assert delayed.data["estimated_delivery_date"] == "2026-03-06"
    assert t.shipment("s1").estimated_date == date(2026, 3, 6)


def test_out_for_delivery_means_today() -> None:
    t = Tracking(transit=TransitTime(median_hours=96, p90_hours=130, parcels=50))
    t.deliver(created("s1", "o1", MON, promised=date(2026, 3, 6), shipped_at=MON.isoformat()))
    t.deliver(scan("s1", "o1", "out_for_delivery", MON + timedelta(days=1)))
    assert t.shipment("s1").estimated_date == date(2026, 3, 3)


def test_an_exception_scan_reports_its_reason_and_asks_for_a_notice() -> None:
    t = Tracking()
    t.deliver(created("s1", "o1", MON, promised=date(2026, 3, 4)))
    events = t.deliver(
        scan("s1", "o1", "exception", MON + timedelta(hours=6), raw="failure", exception_reason="address_problem")
    )
    (exception,) = [e for e in events if e.type == "tracking.shipment_exception"]
    assert exception.data["exception_reason"] == "address_problem" and exception.data["raw_status_code"] == "failure"
    assert [e.data["message"] for e in events if e.type == "notification.requested"] == ["delivery_exception"]


def test_unknown_codes_are_kept_and_counted_but_change_nothing() -> None:
    t = Tracking()
    t.deliver(created("s1", "o1", MON, promised=date(2026, 3, 4)))
    t.deliver(scan("s1", "o1", "in_transit", MON + timedelta(hours=1)))
    events = t.deliver(scan("s1", "o1", "unknown", MON + timedelta(hours=2), raw="ZX99"))
    assert t.shipment("s1").status == "in_transit" and events == []
    assert t.board.unknown_codes == [(t.shipment("s1").merchant_id, "dhl")]
    assert t.shipment("s1").last_scan_at == MON + timedelta(hours=2)  # it still counts as movement


def test_a_scan_before_the_shipment_is_announced_waits_for_it() -> None:
    t = Tracking()
    early = t.deliver(scan("s1", "o1", "exception", MON, exception_reason="customs"))
    assert [e.type for e in early] == ["tracking.shipment_status_changed"]  # no problem without a customer yet
    announced = t.deliver(created("s1", "o1", MON + timedelta(hours=1), promised=date(2026, 3, 5)))
    assert "tracking.shipment_exception" in types(announced)
    assert [e.data["message"] for e in announced if e.type == "notification.requested"] == [
        "delivery_exception",
        "shipped",
    ]


def test_a_delivered_return_parcel_becomes_order_returned_with_its_lines() -> None:
    t = Tracking()
    lines = [{"line_id": "L1", "quantity": 1, "reason": "too_small"}]
    t.deliver(created("r1", "o1", MON, direction="return", return_lines=lines))
    t.deliver(scan("r1", "o1", "in_transit", MON + timedelta(hours=5)))
    back = t.deliver(scan("r1", "o1", "delivered", MON + timedelta(days=2)))
    (returned,) = [e for e in back if e.type == "order.returned"]
    assert returned.data == {"return_id": "r1", "order_id": "o1", "customer_id": "c1", "lines": lines}
    assert not [e for e in t.events if e.type in ("notification.requested", "tracking.shipment_delivered")]
    assert t.shipment("r1").promised_date is None and t.look("r1", MON + timedelta(days=9)) == []


def test_without_a_promise_from_the_shop_the_rules_give_one() -> None:
    t = Tracking()
    t.deliver(placed("o1", MON))
    t.deliver(created("s1", "o1", MON))
    assert t.shipment("s1").promised_date == date(2026, 3, 4)  # DE: two delivery days
    assert t.shipment("s1").promise_source == "rules"


def test_next_check_is_none_for_a_final_parcel() -> None:
    rules = DeliveryRules()
    s = Shipment("m", "s", "o", "dhl", status="delivered", last_scan_at=MON, promised_date=date(2026, 3, 3))
    assert next_check(s, rules, MON) is None
