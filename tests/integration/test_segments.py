"""Segments on real PostgreSQL (and the real broker's producer): profiles, segment entry and exit, the scheduled
time-based exit, triggers, erasure, and the HTTP API with its 422s carrying node paths."""

# ruff: noqa: F811  (pytest fixtures imported from tests.segments_service are parameters here)
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.segments_service import T0, client, clock, consent, customer, order, pool, review, segments, utc  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration

ACTIVE_BUYERS = {
    "segment_id": "active-coffee",
    "name": "Kaffee, zuletzt in 30 Tagen",
    "definition": {
        "op": "and",
        "of": [
            {"op": "performed", "event": "order.placed", "at_least": 1, "within_days": 30},
            {"op": "bought", "category": "coffee"},
        ],
    },
}


async def test_a_profile_is_built_from_orders_customers_reviews_and_refunds(segments, client, merchant_id) -> None:
    s = segments
    await s.deliver(s.event(customer("c1", birthday="1990-03-15"), T0 - timedelta(days=60)))
    d40, d10 = T0 - timedelta(days=40), T0 - timedelta(days=10)
    await s.deliver(
        s.event(order("o1", "c1", d40, 4_000, codes=("WELCOME10",)), d40),
        s.event(order("o2", "c1", d10, 6_000, category="tea", product="tea"), d10),
        s.event(review("c1", 4), T0 - timedelta(days=5)),
    )  # fmt: skip
    refund = {"refund_id": "r1", "order_id": "o2", "customer_id": "c1", "lines": [], "amount_minor": 1_000,
              "currency": "EUR", "reason": "damaged"}  # fmt: skip
    await s.deliver(s.event(("order.refunded", refund), T0 - timedelta(days=4)))
    profile = (await client.get(f"/internal/v1/merchants/{merchant_id}/customers/c1/profile")).json()
    assert profile["person"]["email"] == "anna@example.de" and profile["person"]["birthday"] == "1990-03-15"
    assert profile["location"] == {"city": "Dortmund", "postcode": "44135", "country": "DE"}
    assert profile["orders"]["count"] == 2 and profile["orders"]["revenue_minor"] == 9_000  # 4,000 + 6,000 - 1,000
    assert profile["orders"]["mean_days_between_orders"] == 30.0
    assert profile["categories_bought"] == ["coffee", "tea"] and profile["discount_codes"] == ["WELCOME10"]
    assert profile["reviews"] == {"count": 1, "average_rating": 4.0}
    assert profile["acquisition_channel"] == "web_shop" and profile["lifecycle"] == "repeat"
    cancel = {"order_id": "o2", "customer_id": "c1", "reason": "customer_request"}
    await s.deliver(s.event(("order.cancelled", cancel), T0 - timedelta(days=3)))
    after = (await client.get(f"/internal/v1/merchants/{merchant_id}/customers/c1/profile")).json()
    assert after["orders"]["count"] == 1 and after["orders"]["revenue_minor"] == 4_000
    assert after["categories_bought"] == ["coffee"]
    unknown = await client.get(f"/internal/v1/merchants/{merchant_id}/customers/nobody/profile")
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"


async def test_entering_and_the_scheduled_time_based_exit_are_events(segments, client, merchant_id, clock) -> None:
    s = segments
    created = await client.post(f"/internal/v1/merchants/{merchant_id}/segments", json=ACTIVE_BUYERS)
    assert created.status_code == 201 and created.json()["time_dependent"] is True
    assert await s.run_jobs() >= 1  # evaluation of the new definition (nobody yet)
    await s.deliver(s.event(order("o1", "c1", T0 - timedelta(days=1)), T0 - timedelta(days=1)))
    await s.deliver(s.event(order("o2", "c2", T0, category="tea"), T0))
    (entered,) = await s.emitted("segment.entered")
    assert entered.data == {"customer_id": "c1", "segment_id": "active-coffee", "segment_name": ACTIVE_BUYERS["name"],
                            "segment_version": 1, "cause": "event"}  # fmt: skip
    assert await s.memberships("c1") == {"active-coffee"} and await s.memberships("c2") == set()
    members = await client.get(f"/internal/v1/merchants/{merchant_id}/segments/active-coffee/members")
    assert [m["customer_id"] for m in members.json()["items"]] == ["c1"]
    why = (await client.get(f"/internal/v1/merchants/{merchant_id}/customers/c1/segments/active-coffee/explain")).json()
    assert why["holds_now"] and "order.placed 1 times in 30 days" in why["text"]

    clock.now = T0 + timedelta(days=31)  # nothing happens but time: the hourly re-evaluation sees the window close
    assert await s.run_jobs(clock.now + timedelta(hours=1)) >= 1
    (exited,) = await s.emitted("segment.exited")
    assert exited.data["customer_id"] == "c1" and exited.data["cause"] == "schedule"
    assert await s.memberships("c1") == set()
    why = (await client.get(f"/internal/v1/merchants/{merchant_id}/customers/c1/segments/active-coffee/explain")).json()
    assert not why["holds_now"] and "✗ order.placed 0 times in 30 days" in why["text"]


async def test_a_changed_definition_reevaluates_everyone_and_a_deleted_one_lets_members_go(
    segments, client, merchant_id
) -> None:
    s = segments
    for i in range(5):
        await s.deliver(
            s.event(order(f"o{i}", f"c{i}", T0 - timedelta(days=i), 1_000 * (i + 1)), T0 - timedelta(days=i))
        )
    big = {"segment_id": "big", "name": "Big spenders",
           "definition": {"op": "compare", "property": "revenue_minor", "cmp": ">=", "value": 3_000}}  # fmt: skip
    await client.post(f"/internal/v1/merchants/{merchant_id}/segments", json=big)
    await s.run_jobs()
    assert sorted(e.data["customer_id"] for e in await s.emitted("segment.entered")) == ["c2", "c3", "c4"]
    stale = await client.put(f"/internal/v1/merchants/{merchant_id}/segments/big", headers={"If-Match": '"v0"'},
                             json={**big, "segment_id": None} | {"definition": big["definition"]})  # fmt: skip
    assert stale.status_code == 422  # segment_id is not a field of a change: strict body
    change = {"name": "Big spenders", "definition": {"op": "compare", "property": "revenue_minor", "cmp": ">=",
              "value": 4_000}}  # fmt: skip
    refused = await client.put(f"/internal/v1/merchants/{merchant_id}/segments/big", headers={"If-Match": '"v0"'},
                               json=change)  # fmt: skip
    assert refused.status_code == 412
    changed = await client.put(f"/internal/v1/merchants/{merchant_id}/segments/big", headers={"If-Match": '"v1"'},
                               json=change)  # fmt: skip
    assert changed.status_code == 200 and changed.headers["ETag"] == '"v2"'
    await s.run_jobs()
    (left,) = await s.emitted("segment.exited")
    assert left.data["customer_id"] == "c2" and left.data["cause"] == "definition_changed"
    versions = (await client.get(f"/internal/v1/merchants/{merchant_id}/segments/big/versions")).json()["items"]
    assert [v["version"] for v in versions] == [2, 1]
    assert (await client.delete(f"/internal/v1/merchants/{merchant_id}/segments/big")).status_code == 204
    await s.run_jobs()
    gone = [e.data for e in await s.emitted("segment.exited") if e.data["cause"] == "segment_deleted"]
    assert sorted(d["customer_id"] for d in gone) == ["c3", "c4"]
    assert {d["segment_name"] for d in gone} == {"Big spenders"}
    assert (await client.get(f"/internal/v1/merchants/{merchant_id}/segments/big")).status_code == 404


@pytest.mark.parametrize(
    ("definition", "path"),
    [
        ({"op": "and", "of": [{"op": "performed", "event": "order.placed", "within_days": -3}]},
         "definition.of[0].within_days"),
        ({"op": "compare", "property": "shoe_size", "cmp": "=", "value": 42}, "definition.property"),
        ({"op": "xor", "of": []}, "definition"),
        ({"op": "or", "of": [{"op": "compare", "property": "city", "cmp": ">", "value": "B"}]}, "definition.of[0]"),
    ],
)  # fmt: skip
async def test_an_invalid_tree_is_refused_with_the_path_of_the_bad_node(client, merchant_id, definition, path) -> None:
    body = {"segment_id": "bad", "name": "Bad", "definition": definition}
    response = await client.post(f"/internal/v1/merchants/{merchant_id}/segments", json=body)
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert path in [e["path"] for e in response.json()["errors"]]
    assert (await client.get(f"/internal/v1/merchants/{merchant_id}/segments/bad")).status_code == 404


async def test_triggers_win_back_birthday_tenure_vip_and_cross_sell(segments, client, merchant_id, clock) -> None:
    s = segments
    vip = {"segment_id": "vip", "name": "VIP", "actions": {"trigger": "vip_promotion", "award_points": 500},
           "definition": {"op": "compare", "property": "order_count", "cmp": ">=", "value": 3}}  # fmt: skip
    await client.post(f"/internal/v1/merchants/{merchant_id}/segments", json=vip)
    await s.run_jobs()
    first = utc(2025, 3, 3, 10)
    clock.now = first + timedelta(days=15)
    await s.deliver(s.event(customer("c1", birthday="1990-03-03"), first - timedelta(days=1)))
    await s.deliver(*[s.event(order(f"o{i}", "c1", first + timedelta(days=7 * i)), first + timedelta(days=7 * i))
                      for i in range(3)])  # fmt: skip
    triggered = [e.data for e in await s.emitted("segments.triggered")]
    assert triggered == [{"customer_id": "c1", "trigger": "vip_promotion", "segment_id": "vip", "lifecycle": "repeat"}]
    (award,) = [e.data for e in await s.emitted("points.award_requested")]
    assert award["reason_code"] == "vip" and award["points"] == 500 and award["request_id"] == "seg-vip-v1-c1"

    delivered = {"order_id": "o2", "customer_id": "c1", "delivered_at": (first + timedelta(days=16)).isoformat(),
                 "shipment_ids": ["s1"]}  # fmt: skip
    await s.deliver(s.event(("tracking.order_delivered", delivered), first + timedelta(days=16)))
    await s.run_jobs(first + timedelta(days=31))  # 14 days after the delivery
    cross = [e.data for e in await s.emitted("segments.triggered") if e.data["trigger"] == "cross_sell"]
    assert cross == [{"customer_id": "c1", "trigger": "cross_sell", "order_id": "o2", "categories": ["coffee"]}]

    # A year on: at risk (no order for ~11 months against a weekly rhythm), birthday and first-order anniversary.
    clock.now = utc(2026, 3, 3, 0, 30)
    await s.run_jobs(clock.now + timedelta(hours=1))
    kinds = sorted(e.data["trigger"] for e in await s.emitted("segments.triggered"))
    assert kinds == ["birthday", "cross_sell", "tenure", "vip_promotion", "win_back"]
    birthday = [e.data for e in await s.emitted("points.award_requested") if e.data["reason_code"] == "birthday"]
    assert birthday == [{"customer_id": "c1", "request_id": "birthday-2026-c1", "reason_code": "birthday"}]
    await s.run_jobs(clock.now + timedelta(hours=2))  # the same day again: no second birthday
    assert len(await s.emitted("points.award_requested")) == 2
    assert s.metrics.triggers.labels("win_back")._value.get() == 1


async def test_erasure_removes_personal_data_and_every_membership(segments, client, merchant_id) -> None:
    s = segments
    everyone = {"segment_id": "buyers", "name": "Buyers",
                "definition": {"op": "compare", "property": "order_count", "cmp": ">=", "value": 1}}  # fmt: skip
    await client.post(f"/internal/v1/merchants/{merchant_id}/segments", json=everyone)
    await s.run_jobs()
    await s.deliver(s.event(customer("c1"), T0), s.event(order("o1", "c1", T0), T0), s.event(consent("c1", True), T0))
    assert await s.memberships("c1") == {"buyers"}
    erase = {"customer_id": "c1", "request_id": "er-1", "requested_by": "customer"}
    await s.deliver(s.event(("customer.erasure_requested", erase), T0 + timedelta(hours=1)))
    (left,) = await s.emitted("segment.exited")
    assert left.data["cause"] == "erasure" and await s.memberships("c1") == set()
    profile = (await client.get(f"/internal/v1/merchants/{merchant_id}/customers/c1/profile")).json()
    assert profile["erased"] and profile["person"] == {} and profile["location"]["city"] is None
    assert profile["consents"] == {}
    stored = await s.pool.fetchrow("SELECT doc::text AS doc, advertising_consent, city FROM profiles")
    assert "anna" not in stored["doc"].lower() and "dortmund" not in stored["doc"].lower()
    assert stored["advertising_consent"] is False and stored["city"] is None
    await s.deliver(s.event(customer("c1", kind="customer.updated"), T0 + timedelta(hours=2)))  # a late update
    assert "anna" not in (await s.pool.fetchval("SELECT doc::text FROM profiles")).lower()
    await s.deliver(s.event(order("o2", "c1", T0 + timedelta(hours=3)), T0 + timedelta(hours=3)))
    assert await s.memberships("c1") == set()  # an erased customer joins no segment again
