"""KPIs, predictions and retargeting audiences on real PostgreSQL, with audiences pushed to a real HTTP server."""

# ruff: noqa: F811  (pytest fixtures imported from tests.segments_service are parameters here)
from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import numpy as np
import pytest

from services.segments.domain.audiences import sha256_hex
from services.segments.domain.predictions import BgNbd, simulate
from tests.integration.test_audience_push import Destination, destination  # noqa: F401  (the HTTP server fixture)
from tests.segments_service import T0, client, clock, consent, customer, order, pool, segments, utc  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration


async def test_kpis_equal_what_the_raw_events_say(segments, client, merchant_id) -> None:
    s = segments
    raw = [  # (order, customer, placed, total, channel)
        ("o1", "a", utc(2025, 11, 3, 10), 4_000, "web_shop"),
        ("o2", "a", utc(2026, 1, 10, 10), 6_000, "web_shop"),
        ("o3", "b", utc(2026, 1, 20, 10), 2_000, "amazon"),
        ("o4", "c", utc(2026, 2, 1, 10), 9_000, "web_shop"),
        ("o5", "a", utc(2026, 2, 14, 10), 5_000, "web_shop"),
        ("o6", "b", utc(2026, 2, 20, 10), 3_000, "amazon"),
    ]
    await s.deliver(*[s.event(order(o, c, at, t, channel=ch), at) for o, c, at, t, ch in raw])
    cancel = {"order_id": "o6", "customer_id": "b", "reason": "customer_request"}
    refund = {"refund_id": "r1", "order_id": "o4", "customer_id": "c", "lines": [], "amount_minor": 1_500,
              "currency": "EUR", "reason": "damaged"}  # fmt: skip
    await s.deliver(s.event(("order.cancelled", cancel), T0), s.event(("order.refunded", refund), T0))

    # Independently from the raw list: cancelled o6 never counts; o4 counts 9,000 - 1,500.
    net = {o: t for o, _, _, t, _ in raw} | {"o4": 7_500}
    live = [(o, c, at) for o, c, at, _, _ in raw if o != "o6"]
    feb = [(o, c) for o, c, at in live if (at.year, at.month) == (2026, 2)]
    window = [(o, c) for o, c, at in live if utc(2025, 3, 1) <= at < utc(2026, 3, 1)]
    per_customer = {c: sum(1 for _, cc in window if cc == c) for _, c in window}
    expected = {
        "customers": len({c for _, c in feb}),
        "orders": len(feb),
        "revenue_minor": sum(net[o] for o, _ in feb),
        "average_order_value_minor": round(sum(net[o] for o, _ in feb) / len(feb)),  # money rounds half to even
        "repeat_customer_rate": round(sum(1 for n in per_customer.values() if n >= 2) / len(per_customer), 4),
        "purchase_frequency_12m": round(len(window) / len(per_customer), 4),
        "historical_clv_minor": round(sum(net[o] for o, _, _ in live) / len({c for _, c, _ in live})),
    }
    body = (
        await client.get(f"/internal/v1/merchants/{merchant_id}/kpis", params={"from": "2026-02", "to": "2026-02"})
    ).json()
    (feb_kpis,) = body["months"]
    assert {k: feb_kpis[k] for k in expected} == expected
    by_channel = (await client.get(f"/internal/v1/merchants/{merchant_id}/kpis",
                                   params={"from": "2026-01", "to": "2026-02", "by": "channel"})).json()  # fmt: skip
    amazon_jan = by_channel["groups"]["amazon"][0]
    assert (amazon_jan["orders"], amazon_jan["revenue_minor"]) == (1, 2_000)
    matrix = (await client.get(f"/internal/v1/merchants/{merchant_id}/kpis/cohorts",
                               params={"from": "2025-11", "to": "2026-02"})).json()["cohorts"]  # fmt: skip
    nov = matrix[0]
    assert nov["cohort"] == "2025-11" and nov["customers"] == 1 and nov["retained"] == [1.0, 0.0, 1.0, 1.0]
    too_long = await client.get(
        f"/internal/v1/merchants/{merchant_id}/kpis", params={"from": "2020-01", "to": "2026-02"}
    )
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["path"] == "to"


async def test_audiences_hold_only_consenting_members_and_withdrawal_is_the_next_removal(
    segments,
    client,
    merchant_id,
    destination: Destination,
) -> None:
    s = segments
    buyers = {"segment_id": "buyers", "name": "Käufer",
              "definition": {"op": "compare", "property": "order_count", "cmp": ">=", "value": 1}}  # fmt: skip
    await client.post(f"/internal/v1/merchants/{merchant_id}/segments", json=buyers)
    for c, email, granted in (("c1", "Anna.Mueller@Example.DE", True), ("c2", "bo@example.de", False),
                              ("c3", "cem@example.de", True)):  # fmt: skip
        await s.deliver(s.event(customer(c, email=email), T0), s.event(order(f"o-{c}", c, T0), T0),
                        s.event(consent(c, granted), T0))  # fmt: skip
    await s.run_jobs()
    download = await client.get(
        f"/internal/v1/merchants/{merchant_id}/segments/buyers/audience", params={"format": "google"}
    )
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert [r["Email"] for r in rows] == [sha256_hex("anna.mueller@example.de"), sha256_hex("cem@example.de")]
    assert all(r["Country"].upper() == "DE" and r["Zip"] == "44135" for r in rows)  # plain, as Google's template says
    assert sha256_hex("bo@example.de") not in download.text and "example.de" not in download.text

    url = destination.answer("/audiences", 503, 200)
    put = await client.put(f"/internal/v1/merchants/{merchant_id}/segments/buyers/audience-destination",
                           json={"format": "meta", "url": url, "secret": "a-merchant-secret-123"})  # fmt: skip
    assert put.status_code == 200 and "secret" not in put.json()
    s.insight_jobs.push_attempts = 3
    await s.run_jobs()
    first = json.loads(destination.received["/audiences"][-1].body)
    assert len(destination.received["/audiences"]) == 2  # a 503, then accepted
    assert sorted(r["EMAIL"] for r in first["add"]) == sorted(
        sha256_hex(e) for e in ("anna.mueller@example.de", "cem@example.de")
    )
    assert first["remove"] == []

    await s.deliver(s.event(consent("c1", False), T0 + timedelta(hours=1)))  # withdrawal
    erase = {"customer_id": "c3", "request_id": "er-1", "requested_by": "customer"}
    await s.deliver(s.event(("customer.erasure_requested", erase), T0 + timedelta(hours=1)))
    await client.post(f"/internal/v1/merchants/{merchant_id}/segments/buyers/audience-destination/sync")
    await s.run_jobs()
    second = json.loads(destination.received["/audiences"][-1].body)
    assert second["add"] == [] and sorted(r["EMAIL"] for r in second["remove"]) == sorted(
        sha256_hex(e) for e in ("anna.mueller@example.de", "cem@example.de")
    )  # erased c3 is removed by the hashes it was sent with, though its email is gone here
    state = (await client.get(f"/internal/v1/merchants/{merchant_id}/segments/buyers/audience-destination")).json()
    assert state["last_removed"] == 2 and state["signed"] is True
    again = await client.get(
        f"/internal/v1/merchants/{merchant_id}/segments/buyers/audience", params={"format": "meta"}
    )
    assert again.text.count("\n") == 1  # the header only: nobody left with consent


async def test_predictions_are_fitted_on_schedule_or_say_there_is_not_enough_history(
    segments, client, merchant_id, clock
) -> None:
    s = segments
    await s.deliver(s.event(order("o1", "c1", T0 - timedelta(days=3)), T0 - timedelta(days=3)))
    await client.post(f"/internal/v1/merchants/{merchant_id}/predictions/refresh")
    await s.run_jobs()
    model = (await client.get(f"/internal/v1/merchants/{merchant_id}/predictions")).json()["model"]
    assert model["status"] == "not_enough_history"
    lone = await client.get(f"/internal/v1/merchants/{merchant_id}/customers/c1/prediction")
    assert lone.status_code == 404 and "not_enough_history" in lone.json()["detail"]

    rng = np.random.default_rng(7)
    start = T0 - timedelta(days=540)
    histories = simulate(BgNbd(0.8, 30.0, 0.5, 3.0), 400, 540, rng)
    events = [s.event(order(f"h{i}-{k}", f"h{i}", start + timedelta(days=t)), start + timedelta(days=t))
              for i, times in enumerate(histories) for k, t in enumerate(times)]  # fmt: skip
    for chunk in range(0, len(events), 500):
        await s.deliver(*events[chunk : chunk + 500])
    clock.now = T0 + timedelta(days=1)
    await client.post(f"/internal/v1/merchants/{merchant_id}/predictions/refresh")
    await s.run_jobs()
    page = (await client.get(f"/internal/v1/merchants/{merchant_id}/predictions", params={"limit": 1000})).json()
    assert page["model"]["status"] == "fitted" and page["model"]["customers"] == 401
    by_id = {p["customer_id"]: p for p in page["items"]}
    assert all(0.0 <= p["probability_active"] <= 1.0 and p["predicted_clv_12m_minor"] >= 0 for p in by_id.values())
    frequent = max(by_id, key=lambda c: sum(1 for e in events if e.data["customer_id"] == c))
    median = sorted(p["expected_orders_12m"] for p in by_id.values())[len(by_id) // 2]
    assert by_id[frequent]["expected_orders_12m"] > median
    one = (await client.get(f"/internal/v1/merchants/{merchant_id}/customers/{frequent}/prediction")).json()
    assert one["model"]["status"] == "fitted" and one["expected_next_order_at"] is not None
