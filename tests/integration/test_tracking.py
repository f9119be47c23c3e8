"""The tracking service's consumer, schedule and API on real PostgreSQL (and the real broker's producer)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import asyncpg
import httpx
import pytest

from services.common.migrations import apply_migrations, migrations_for
from services.tracking.bootstrap import SPEC as TRACKING
from services.tracking.domain.promise import end_of_day
from tests.tracking_events import CONTRACT, created, placed, scan
from tests.tracking_service import TrackingService

pytestmark = pytest.mark.integration

MON = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def pool(schema_pool) -> asyncpg.Pool:
    schema, pool = schema_pool
    await apply_migrations(pool, schema, migrations_for(TRACKING.migrations))
    return pool


@pytest.fixture
def tracking(pool, producer, kernel_metrics, merchant_id) -> TrackingService:
    return TrackingService(pool, producer, kernel_metrics, merchant_id)


async def test_a_split_order_is_delivered_once_with_the_last_parcels_date(tracking: TrackingService) -> None:
    await tracking.deliver(placed("o1", MON, lines=("L1", "L2")))
    await tracking.deliver(
        created("s1", "o1", MON, lines=("L1",), promised=date(2026, 3, 4)),
        created("s2", "o1", MON, lines=("L2",), promised=date(2026, 3, 4)),
        scan("s1", "o1", "in_transit", MON + timedelta(hours=2)),
        scan("s1", "o1", "delivered", MON + timedelta(days=1)),
    )
    assert await tracking.emitted("tracking.order_delivered") == []
    last = MON + timedelta(days=2)
    outcome = await tracking.deliver(scan("s2", "o1", "delivered", last), scan("s2", "o1", "delivered", last))
    (delivered,) = await tracking.emitted("tracking.order_delivered")
    assert delivered.data["delivered_at"] == last.isoformat() and delivered.data["shipment_ids"] == ["s1", "s2"]
    assert len(outcome.applied) == 2
    timeline = await tracking.pool.fetch("SELECT status FROM scans WHERE shipment_id = 's2'")
    assert [r["status"] for r in timeline] == ["delivered"]  # the same carrier scan twice is kept once
    assert tracking.metric("retention_tracking_deliveries_total", carrier="dhl", on_time="true") == 2


async def test_a_restart_misses_no_promise_the_durable_schedule_catches_it(tracking: TrackingService) -> None:
    promised = date(2026, 3, 4)
    await tracking.deliver(
        created("s1", "o1", MON, promised=promised),
        scan("s1", "o1", "in_transit", MON + timedelta(hours=3)),
        scan("s1", "o1", "in_transit", MON + timedelta(hours=30)),
    )
    due = await tracking.pool.fetchval("SELECT due_at FROM scheduled_jobs WHERE job_key LIKE 'check:%'")
    assert due == end_of_day(promised)
    assert await tracking.run_checks(end_of_day(promised) - timedelta(minutes=1)) == 0
    assert await tracking.run_checks(end_of_day(promised) + timedelta(minutes=1)) == 1
    (delayed,) = await tracking.emitted("tracking.shipment_delayed")
    assert delayed.data["reason"] == "promise_passed"
    apologies = [e for e in await tracking.emitted("notification.requested") if e.data["message"] == "delay_apology"]
    assert len(apologies) == 1
    # the parcel is still moving nowhere: the next look is the no-movement limit, and it is reported once
    assert await tracking.run_checks(MON + timedelta(hours=30 + 48)) == 1
    assert await tracking.run_checks(MON + timedelta(days=20)) == 0
    (stuck,) = await tracking.emitted("tracking.shipment_stuck")
    assert stuck.data["hours_without_scan"] == 48 and stuck.data["status"] == "in_transit"
    assert (
        tracking.metric("retention_tracking_problems_total", carrier="dhl", problem="delayed", reason="promise_passed")
        == 1
    )


async def test_learned_transit_times_move_the_estimate(tracking: TrackingService) -> None:
    # 25 delivered parcels on the DHL/DE lane took four days each: the lane now outweighs the two-day default.
    history = []
    for n in range(25):
        start = MON - timedelta(days=30 - n)
        history += [
            created(f"h{n}", f"oh{n}", start, promised=(start + timedelta(days=5)).date()),
            scan(f"h{n}", f"oh{n}", "delivered", start + timedelta(hours=96)),
        ]
    await tracking.deliver(*history)
    await tracking.deliver(created("s1", "o1", MON, promised=date(2026, 3, 4)))
    (late,) = await tracking.emitted("tracking.shipment_delayed")
    assert late.data["reason"] == "estimate_after_promise" and late.data["estimated_delivery_date"] == "2026-03-06"


async def test_unknown_carrier_codes_are_counted_once_per_committed_scan(tracking: TrackingService) -> None:
    await tracking.deliver(created("s1", "o1", MON, promised=date(2026, 3, 4), carrier="gls"))
    await tracking.deliver(scan("s1", "o1", "unknown", MON + timedelta(hours=1), carrier="gls", raw="ZZ"))
    assert tracking.metric("retention_tracking_unknown_codes_total", carrier="gls") == 1
    row = await tracking.pool.fetchrow("SELECT status, raw_status_code FROM scans WHERE shipment_id = 's1'")
    assert (row["status"], row["raw_status_code"]) == ("unknown", "ZZ")


async def test_api_order_tracking_performance_and_rules(tracking: TrackingService) -> None:
    from fastapi import FastAPI

    from services.common.http import install_problem_handlers
    from services.tracking.entrypoints.api import router

    await tracking.deliver(
        created("s1", "o1", MON, promised=date(2026, 3, 3)),
        scan("s1", "o1", "in_transit", MON + timedelta(hours=2), location={"city": "Dortmund", "country": "DE"}),
        scan("s1", "o1", "delivered", MON + timedelta(days=2)),  # a day late
        created("s2", "o2", MON, promised=date(2026, 3, 4), carrier="dpd"),
        scan("s2", "o2", "delivered", MON + timedelta(days=1), carrier="dpd"),
    )

    class Runtime:
        pool = tracking.pool

    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router(Runtime()))  # type: ignore[arg-type]
    base = f"/internal/v1/merchants/{tracking.merchant_id}"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        order = (await http.get(f"{base}/orders/o1/tracking")).json()
        assert order["delivered"] is True and order["parcels"] == 1
        (parcel,) = order["shipments"]
        assert [s["status"] for s in parcel["timeline"]] == ["in_transit", "delivered"]
        assert parcel["timeline"][0]["location"] == {"city": "Dortmund", "country": "DE"}
        assert (await http.get(f"{base}/orders/nope/tracking")).status_code == 404

        window = {"since": (MON - timedelta(days=1)).isoformat(), "until": (MON + timedelta(days=9)).isoformat()}
        perf = (await http.get(f"{base}/tracking/performance", params=window)).json()
        assert perf["delivered"] == 2 and perf["on_time_rate"] == 0.5
        by_carrier = {c["carrier"]: c for c in perf["carriers"]}
        assert by_carrier["dhl"]["transit_hours_p50"] == 48.0 and by_carrier["dpd"]["on_time_rate"] == 1.0

        bad = await http.put(f"{base}/tracking/rules", json={"times": [{"country": "DE", "business_days": -1}]})
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
        assert any(e["path"].startswith("times[0].business_days") for e in bad.json()["errors"])
        saved = await http.put(f"{base}/tracking/rules", json={"times": [{"business_days": 3}], "cutoff_hour": 12})
        assert saved.status_code == 200 and saved.json()["version"] == 1
        assert (await http.get(f"{base}/tracking/rules")).json()["rules"]["cutoff_hour"] == 12


async def test_a_carrier_payload_becomes_scans_once_even_when_the_carrier_retries(tracking: TrackingService) -> None:
    import json
    from pathlib import Path

    from fastapi import FastAPI

    from services.common.http import install_problem_handlers
    from services.tracking.entrypoints.api import router

    fixture = Path(__file__).parents[1] / "fixtures" / "carriers" / "dhl" / "parcel_de_delivered.json"
    payload = json.loads(fixture.read_text())
    handed_over = datetime(2025, 11, 3, 9, 0, tzinfo=UTC)
    await tracking.deliver(
        created("s1", "o1", handed_over, promised=date(2025, 11, 5), tracking_number="00340434161094042557")
    )

    class Runtime:
        pool = tracking.pool
        contract = CONTRACT

    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router(Runtime()))  # type: ignore[arg-type]
    url = f"/internal/v1/merchants/{tracking.merchant_id}/carriers/dhl/scans"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        first = await http.post(url, json=payload)
        again = await http.post(url, json=payload)  # the carrier's webhook retry
        assert first.status_code == again.status_code == 202
        assert first.json() == {"accepted": 5, "unknown_codes": 0, "unmatched_tracking_numbers": []}
        broken = await http.post(url, json={"shipments": [{"id": "x", "events": [{"statusCode": "transit"}]}]})
        assert broken.status_code == 422 and broken.json()["errors"][0]["path"].startswith("shipments[0].events[0]")
        stranger = await http.post(url.replace("/dhl/", "/ups/"), json=payload)
        assert stranger.status_code == 422
        assert (await http.post(url.replace("/dhl/", "/fedex/"), json=payload)).status_code == 422

    staged = await tracking.emitted("shipment.status_updated")
    assert len(staged) == 5  # the retry staged nothing new: same natural key, same event id
    await tracking.deliver(*staged)
    state = await tracking.pool.fetchrow("SELECT status, delivered_at FROM shipments WHERE shipment_id = 's1'")
    assert state["status"] == "delivered" and state["delivered_at"] == datetime(2025, 11, 4, 12, 42, tzinfo=UTC)
    (changed_first, *_) = await tracking.emitted("tracking.shipment_status_changed")
    assert changed_first.data["raw_status_code"] == "pre-transit"


async def test_api_lists_a_customers_parcels_newest_first_in_pages(tracking: TrackingService) -> None:
    from fastapi import FastAPI

    from services.common.http import install_problem_handlers
    from services.tracking.entrypoints.customer_api import router

    for n in range(5):
        at = MON + timedelta(hours=n)
        await tracking.deliver(created(f"s{n}", f"o{n}", at, promised=date(2026, 3, 4), customer="anna"))
        await tracking.pool.execute("UPDATE shipments SET created_at = $1 WHERE shipment_id = $2", at, f"s{n}")
    await tracking.deliver(created("other", "o9", MON, customer="bert"))

    class Runtime:
        pool = tracking.pool

    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router(Runtime()))  # type: ignore[arg-type]
    base = f"/internal/v1/merchants/{tracking.merchant_id}/customers"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        first = (await http.get(f"{base}/anna/shipments", params={"limit": 3})).json()
        rest = (await http.get(f"{base}/anna/shipments", params={"limit": 3, "before": first["next_cursor"]})).json()
        bad = await http.get(f"{base}/anna/shipments", params={"before": "yesterday"})
        nobody = (await http.get(f"{base}/nobody/shipments")).json()
    assert [s["shipment_id"] for s in first["items"]] == ["s4", "s3", "s2"]
    assert [s["shipment_id"] for s in rest["items"]] == ["s1", "s0"] and rest["next_cursor"] is None
    assert first["items"][0]["order_id"] == "o4" and first["items"][0]["carrier"] == "dhl"
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "before"
    assert nobody == {"customer_id": "nobody", "items": [], "next_cursor": None}
