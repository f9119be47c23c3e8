"""Loyalty's rules, pure: points that follow the parcel, line-level reversals, shortfall, tiers, bonuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from services.loyalty.domain.history import describe
from services.loyalty.domain.programme import Cap, Programme, ProgrammeConfig, Tier, Tiers
from tests.loyalty_model import (
    LoyaltyModel,
    event,
    order_cancelled,
    order_delivered,
    order_paid,
    order_placed,
    order_refunded,
    order_returned,
    review,
    shipment_delayed,
)

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
LINES = [("l1", 2, 4000, "shoes"), ("l2", 1, 2000, "socks"), ("l3", 1, 5000, "gift_card")]


def kinds(model: LoyaltyModel) -> list[tuple[str, int]]:
    return [(e.kind, e.points) for e in model.entries("c1") if e.kind not in ("bonus",)]


def test_points_are_pending_on_payment_and_confirm_after_delivery_plus_return_window() -> None:
    model = LoyaltyModel()
    model.deliver([order_placed("c1", "o1", T0, LINES), order_paid("c1", "o1", T0 + timedelta(minutes=5))])
    account = model.book.accounts[("m-model", "c1")]
    assert (account.available, account.pending) == (0, 60)  # 40 + 20 EUR; the gift card earns nothing

    model.deliver([order_delivered("c1", "o1", T0 + timedelta(days=2))])
    assert model.run_jobs(T0 + timedelta(days=15)) == 0  # return window (14 days) still open
    model.run_jobs(T0 + timedelta(days=16, minutes=1))

    assert (account.available, account.pending) == (60 + 100, 0)  # + first-order bonus
    assert [k for k, _ in kinds(model)] == ["pending", "pending_release", "confirm"]


def test_without_tracking_points_confirm_after_the_fallback_delay() -> None:
    model = LoyaltyModel()
    model.deliver([order_paid("c1", "o1", T0), order_placed("c1", "o1", T0, LINES)])  # payment first: still earns
    model.run_jobs(T0 + timedelta(days=29))
    assert model.book.accounts[("m-model", "c1")].pending == 60
    model.run_jobs(T0 + timedelta(days=30, seconds=1))
    assert model.book.accounts[("m-model", "c1")].available == 160


def test_cancellation_voids_pending_points_and_no_confirmation_follows() -> None:
    model = LoyaltyModel()
    model.deliver([order_placed("c1", "o1", T0, LINES), order_paid("c1", "o1", T0), order_cancelled("c1", "o1", T0)])
    model.run_jobs(T0 + timedelta(days=400))
    account = model.book.accounts[("m-model", "c1")]
    assert (account.available, account.pending) == (0, 0)
    void = next(e for e in model.entries("c1") if e.kind == "pending_void")
    assert (
        void.points == -60
        and void.reverses_entry_id == next(e for e in model.entries() if e.kind == "pending").entry_id
    )


def test_a_return_and_its_refund_reverse_exactly_the_returned_lines_once() -> None:
    model = LoyaltyModel()
    model.deliver(
        [
            order_placed("c1", "o1", T0, LINES),
            order_paid("c1", "o1", T0),
            order_delivered("c1", "o1", T0 + timedelta(days=1)),
        ]
    )
    model.run_jobs(T0 + timedelta(days=30))
    model.deliver(
        [
            order_returned("c1", "o1", T0 + timedelta(days=31), {"l1": 1}, "r1"),
            order_refunded("c1", "o1", T0 + timedelta(days=32), {"l1": 1}, "rf1"),
        ]
    )  # same line: once
    reversal = next(e for e in model.entries("c1") if e.kind == "reversal")
    confirm = next(e for e in model.entries("c1") if e.kind == "confirm")
    assert reversal.points == -20 and reversal.reverses_entry_id == confirm.entry_id
    assert sum(e.kind == "reversal" for e in model.entries("c1")) == 1
    model.deliver([order_returned("c1", "o1", T0 + timedelta(days=33), {"l1": 1, "l2": 1}, "r2")])
    assert sum(-e.points for e in model.entries("c1") if e.kind == "reversal") == 60  # every line back, exactly


def test_a_reversal_larger_than_the_balance_records_a_shortfall_settled_by_later_earnings() -> None:
    model = LoyaltyModel(Programme(version=1, config=ProgrammeConfig(bonuses={"first_order": 0})))
    model.deliver([order_placed("c1", "o1", T0, LINES), order_paid("c1", "o1", T0), order_delivered("c1", "o1", T0)])
    model.run_jobs(T0 + timedelta(days=15))
    assert model.pay_with_points("c1", 50, 10_000, T0 + timedelta(days=16)) is False  # below the minimum
    account = model.book.accounts[("m-model", "c1")]
    account_before = account.available
    model.deliver([review("c1", "rv1", T0 + timedelta(days=16))])  # +20
    assert account.available == account_before + 20
    model.deliver([order_returned("c1", "o1", T0 + timedelta(days=17), {"l1": 2, "l2": 1}, "r1")])
    assert account.available == 20 and account.debt == 0  # 80 - 60 = 20
    model.book.accounts[("m-model", "c1")].available  # noqa: B018
    # spend down, then return more than is left
    model2 = LoyaltyModel(
        Programme(
            version=1,
            config=ProgrammeConfig(
                bonuses={"first_order": 0}, points_payment={"min_points": 1, "max_share_percent": 100}
            ),
        )
    )
    model2.deliver([order_placed("c2", "o2", T0, LINES), order_paid("c2", "o2", T0), order_delivered("c2", "o2", T0)])
    model2.run_jobs(T0 + timedelta(days=15))
    assert model2.pay_with_points("c2", 50, 10_000, T0 + timedelta(days=16))
    model2.deliver([order_returned("c2", "o2", T0 + timedelta(days=17), {"l1": 2}, "r2")])  # 40 back, 10 left
    a2 = model2.book.accounts[("m-model", "c2")]
    reversal = next(e for e in model2.entries("c2") if e.kind == "reversal")
    assert (a2.available, a2.debt, reversal.points, reversal.shortfall) == (0, 30, -10, 30)
    model2.deliver([review("c2", "rv2", T0 + timedelta(days=18), photo=True)])  # +50 settles 30 first
    assert (a2.available, a2.debt) == (20, 0)
    assert describe({"reason_code": "order_returned", "points": -10, "shortfall": 30, "order_id": "o2"}, "de") == (
        "Rücksendung zu Bestellung o2: 40 Punkte für die zurückgesandten Artikel zurückgebucht. "
        "30 davon werden mit künftigen Punkten verrechnet."
    )


def test_goodwill_is_credited_once_per_shipment_however_often_the_delay_is_reported() -> None:
    model = LoyaltyModel()
    model.deliver(
        [
            shipment_delayed("c1", "o1", "s1", T0),
            shipment_delayed("c1", "o1", "s1", T0 + timedelta(hours=5)),
            shipment_delayed("c1", "o1", "s2", T0),
        ]
    )
    assert [(e.kind, e.points, e.shipment_id) for e in model.entries("c1")] == [
        ("goodwill", 50, "s1"),
        ("goodwill", 50, "s2"),
    ]
    notices = [e for e in model.book.emitted if e.type == "notification.requested"]
    assert notices == []  # the delay apology (from tracking) mentions goodwill; no second mail


def test_tiers_upgrade_immediately_and_downgrade_only_at_the_period_end() -> None:
    tiers = Tiers(
        levels=(
            Tier(key="welcome", name_de="W", name_en="W", threshold=0),
            Tier(key="silver", name_de="S", name_en="S", threshold=100, earn_multiplier=Decimal(2)),
        )
    )
    model = LoyaltyModel(Programme(version=2, config=ProgrammeConfig(tiers=tiers, bonuses={"first_order": 0})))
    big = [("l1", 1, 15000, "shoes")]
    model.deliver([order_placed("c1", "o1", T0, big), order_paid("c1", "o1", T0), order_delivered("c1", "o1", T0)])
    model.run_jobs(T0 + timedelta(days=15))
    account = model.book.accounts[("m-model", "c1")]
    assert account.tier == "silver"
    changes = [e.data for e in model.book.emitted if e.type == "loyalty.tier_changed"]
    assert [(c.get("from_tier"), c["to_tier"], c["direction"]) for c in changes] == [
        (None, "welcome", "initial"),
        ("welcome", "silver", "upgrade"),
    ]
    model.deliver(
        [
            order_placed("c1", "o2", T0 + timedelta(days=20), [("x", 1, 1000, "shoes")]),
            order_paid("c1", "o2", T0 + timedelta(days=20)),
        ]
    )
    assert next(e for e in model.entries("c1") if e.order_id == "o2").points == 20  # silver earns double
    model.run_jobs(T0 + timedelta(days=200))
    assert account.tier == "silver"  # no downgrade mid-period, whatever happens
    model.run_jobs(T0 + timedelta(days=15 + 366))
    assert account.tier == "welcome"  # the year ended with too few points
    assert changes[-1] is not None and model.book.emitted[-1].type in ("loyalty.tier_changed", "notification.requested")


def test_caps_limit_points_per_period_but_not_goodwill() -> None:
    model = LoyaltyModel(Programme(version=1, config=ProgrammeConfig(caps=(Cap(period="month", max_points=70),))))
    model.deliver(
        [
            review("c1", "r1", T0),
            review("c1", "r2", T0, photo=True),
            review("c1", "r3", T0),
            shipment_delayed("c1", "o1", "s1", T0),
        ]
    )
    assert [(e.reason_code, e.points) for e in model.entries("c1")] == [
        ("review", 20),
        ("review_photo", 50),
        ("goodwill", 50),
    ]


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"bonuses": {"signup": -5}}, ("bonuses", "signup")),
        ({"bonuses": {"review": 2.5}}, ("bonuses", "review")),
        ({"earning": {"points_per_unit": 1.5}}, ("earning", "points_per_unit")),
        ({"tiers": {"levels": [{"key": "a", "name_de": "A", "name_en": "A", "threshold": 10}]}}, ("tiers",)),
        ({"unknown": 1}, ("unknown",)),
    ],
)
def test_bad_programme_configuration_is_rejected_with_the_field(config: dict, path: tuple) -> None:
    with pytest.raises(ValidationError) as caught:
        ProgrammeConfig.model_validate(config)
    assert any(tuple(str(p) for p in e["loc"][: len(path)]) == path for e in caught.value.errors())


def test_birthday_points_on_the_day_once_a_year_but_not_belated() -> None:
    model = LoyaltyModel()
    model.deliver([event("customer.updated", T0, {"customer_id": "c1", "birthday": "1990-03-05"})])
    model.run_jobs(datetime(2026, 3, 5, 6, 1, tzinfo=UTC))
    model.run_jobs(datetime(2026, 3, 6, tzinfo=UTC))
    assert [(e.reason_code, e.points) for e in model.entries("c1")] == [("birthday", 100)]
    greetings = [e.data for e in model.book.emitted if e.type == "notification.requested"]
    greetings = [g for g in greetings if g["message"] == "birthday"]
    assert len(greetings) == 1 and greetings[0]["category"] == "marketing"  # once, and only with consent
    assert greetings[0]["variables"]["points"] == 100 and greetings[0]["variables"]["percent_off"] == 10
    (voucher,) = [c for c in model.book.codes if c["kind"] == "birthday_voucher"]
    assert voucher["code"] == greetings[0]["variables"]["code"]
    assert greetings[0]["variables"]["code_expires_at"] == "2026-04-04T06:01:00+00:00"  # 30 days
    late = LoyaltyModel()
    late.deliver([event("customer.updated", T0, {"customer_id": "c1", "birthday": "1990-03-05"})])
    late.run_jobs(datetime(2026, 3, 20, tzinfo=UTC))  # the job ran two weeks late: no belated points...
    assert late.entries("c1") == []
    late.run_jobs(datetime(2027, 3, 5, 7, 0, tzinfo=UTC))  # ...but next year's are on time
    assert [e.reason_code for e in late.entries("c1")] == ["birthday"]


def _confirmed_order(model: LoyaltyModel, customer: str, order: str, at: datetime, lines=LINES) -> None:
    model.deliver(
        [
            order_placed(customer, order, at, lines),
            order_paid(customer, order, at),
            order_delivered(customer, order, at),
        ]
    )
    model.run_jobs(at + timedelta(days=15))


def test_per_lot_expiry_spends_the_oldest_points_first() -> None:
    config = ProgrammeConfig(
        expiry={"mode": "lot", "months": 6, "warning_days": 14},
        bonuses={"first_order": 0},
        points_payment={"min_points": 1, "max_share_percent": 100},
    )
    model = LoyaltyModel(Programme(version=1, config=config))
    _confirmed_order(model, "c1", "o1", T0)  # lot 1: 60 points, confirmed 15 days after T0
    model.deliver([review("c1", "r1", T0 + timedelta(days=90))])  # lot 2: 20 points
    assert model.pay_with_points("c1", 50, 100_000, T0 + timedelta(days=100))  # spends 50 of lot 1
    model.run_jobs(T0 + timedelta(days=15) + timedelta(days=170))
    expiring = [e.data for e in model.book.emitted if e.type == "loyalty.points_expiring"]
    assert [d["points"] for d in expiring] == [10]
    model.run_jobs(T0 + timedelta(days=15 + 185))
    account = model.book.accounts[("m-model", "c1")]
    assert [(e.reason_code, e.points) for e in model.entries("c1") if e.kind == "expire"] == [("lot_expired", -10)]
    assert account.available == 20  # the newer lot is untouched
    model.run_jobs(T0 + timedelta(days=90 + 190))
    assert account.available == 0


def test_referral_pays_both_after_the_referees_first_delivered_order() -> None:
    model = LoyaltyModel()
    model.deliver(
        [
            event(
                "customer.created",
                T0,
                {
                    "customer_id": "friend",
                    "email": "f@example.de",
                    "first_name": "F",
                    "last_name": "X",
                    "salutation": "none",
                    "locale": "de-DE",
                    "is_guest": False,
                    "referrer_customer_id": "c1",
                },
            )
        ]
    )
    model.deliver([order_placed("friend", "o9", T0, LINES), order_paid("friend", "o9", T0)])
    assert [e.reason_code for e in model.entries("c1")] == []  # nothing before the delivery
    model.deliver([order_delivered("friend", "o9", T0 + timedelta(days=2))])
    model.run_jobs(T0 + timedelta(days=17))
    assert [(e.reason_code, e.points) for e in model.entries("c1")] == [("referral_referrer", 200)]
    assert ("referral_referee", 100) in [(e.reason_code, e.points) for e in model.entries("friend")]
    _confirmed_order(model, "friend", "o10", T0 + timedelta(days=30))  # a second order pays nobody again
    assert len(model.entries("c1")) == 1


def test_tenure_voucher_each_year_after_the_first_order() -> None:
    model = LoyaltyModel()
    _confirmed_order(model, "c1", "o1", T0)
    model.run_jobs(T0 + timedelta(days=364))
    assert not [e for e in model.book.emitted if e.data.get("message") == "tenure_voucher"]
    model.run_jobs(T0 + timedelta(days=366))
    model.run_jobs(T0 + timedelta(days=731))
    vouchers = [e.data for e in model.book.emitted if e.data.get("message") == "tenure_voucher"]
    assert [(v["variables"]["years"], v["category"]) for v in vouchers] == [(1, "marketing"), (2, "marketing")]
    assert len({c["code"] for c in model.book.codes}) == 2 and model.book.codes[0]["percent_off"] == 10


def test_spend_based_tiers_in_the_calendar_year_and_membership_multiplier() -> None:
    tiers = Tiers(
        basis="spend",
        period="calendar_year",
        levels=(
            Tier(key="welcome", name_de="W", name_en="W", threshold=0),
            Tier(key="vip", name_de="V", name_en="V", threshold=50_000),
        ),
    )
    config = ProgrammeConfig(
        tiers=tiers,
        memberships={"club": {"name_de": "Club", "name_en": "Club", "earn_multiplier": "3", "free_shipping": True}},
    )
    model = LoyaltyModel(Programme(version=4, config=config))
    _confirmed_order(model, "c1", "o1", T0, [("l1", 1, 30_000, "shoes")])
    assert model.book.accounts[("m-model", "c1")].tier == "welcome"
    _confirmed_order(model, "c1", "o2", T0 + timedelta(days=20), [("l1", 1, 25_000, "shoes")])
    assert model.book.accounts[("m-model", "c1")].tier == "vip"  # 550 EUR spent this year
    model.deliver(
        [
            event(
                "membership.purchased",
                T0 + timedelta(days=40),
                {
                    "membership_id": "mb1",
                    "customer_id": "c1",
                    "plan_id": "club",
                    "valid_until": (T0 + timedelta(days=405)).isoformat(),
                    "price_minor": 2900,
                    "currency": "EUR",
                },
            )
        ]
    )
    model.deliver(
        [
            order_placed("c1", "o3", T0 + timedelta(days=41), [("l1", 1, 1000, "shoes")]),
            order_paid("c1", "o3", T0 + timedelta(days=41)),
        ]
    )
    assert next(e for e in model.entries("c1") if e.order_id == "o3").points == 30  # 10 x club 3
    change = next(e.data for e in model.book.emitted if e.type == "loyalty.membership_changed")
    assert (change["status"], change["free_shipping"], change["tier"]) == ("active", True, "vip")
    model.run_jobs(datetime(2027, 1, 1, 0, 0, 1, tzinfo=UTC))
    assert model.book.accounts[("m-model", "c1")].tier == "vip"  # 2026 qualified it; reviewed on 1 January
    model.run_jobs(datetime(2028, 1, 1, 0, 0, 1, tzinfo=UTC))
    assert model.book.accounts[("m-model", "c1")].tier == "welcome"  # nothing spent in 2027


def test_activity_windows_hold_with_late_events_and_drop_what_is_older_than_two_years() -> None:
    from services.loyalty.domain.model import Account

    account = Account("c-window")
    t0 = datetime(2026, 3, 10, 12, tzinfo=UTC)
    for days, points in [(0, 10), (-40, 20), (5, 40), (-3, 80)]:  # late events arrive after newer ones
        account.record_activity(t0 + timedelta(days=days), points=points, granted=points)
    assert account.qualifying("granted", t0 - timedelta(days=3), t0 + timedelta(days=5)) == 90  # end exclusive
    assert account.qualifying("granted", t0 - timedelta(days=60), t0 + timedelta(days=6)) == 150
    assert [a[0] for a in account.activity] == sorted(a[0] for a in account.activity)
    account.record_activity(t0 + timedelta(days=800 - 39))  # the day-40-before entry falls out of the horizon
    assert account.qualifying("points", t0 - timedelta(days=60), t0 + timedelta(days=6)) == 130
