"""The simulated shop: a valid, deterministic, realistic event stream, and the poster's pacing and retries."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.common.contract import load_contract
from services.platform.simulator import ShopSimulation, run_simulated_shop

pytestmark = pytest.mark.unit

START = datetime(2025, 3, 14, 8, 0, tzinfo=UTC)
INPUT_TYPES = {s.type for s in load_contract().event_types() if s.topic.startswith("shop.")}


def simulate(seed: int, seconds: int, *, eps: float = 50, day_seconds: float = 5, run: str = "") -> list[tuple]:
    """(now, events) per simulated second."""
    simulation = ShopSimulation(seed, events_per_second=eps, day_seconds=day_seconds, run=run)
    return [(now, simulation.next_events(now)) for now in (START + timedelta(seconds=s) for s in range(seconds))]


def flat(ticks: list[tuple]) -> list[dict[str, Any]]:
    return [event for _, events in ticks for event in events]


@pytest.fixture(scope="module")
def long_run() -> list[dict[str, Any]]:
    """About 25 story days of a busy shop."""
    return flat(simulate(7, 600, eps=80, day_seconds=25))


@pytest.mark.parametrize("seed", [1, 7, 2025])
def test_every_event_validates_against_the_contract(seed: int) -> None:
    contract = load_contract()
    events = flat(simulate(seed, 120))
    assert len(events) >= 3000
    for event in events:
        assert set(event) == {"event_id", "type", "schema_version", "occurred_at", "data"}
        contract.validate({**event, "merchant_id": "demo-shop"})


def test_the_same_seed_tells_the_same_story() -> None:
    first, again = flat(simulate(7, 60)), flat(simulate(7, 60))
    assert json.dumps(first) == json.dumps(again)
    assert [e["type"] for e in flat(simulate(8, 60))] != [e["type"] for e in first]
    other_run = flat(simulate(7, 60, run="r2"))
    assert [e["type"] for e in other_run] == [e["type"] for e in first]
    assert not {e["event_id"] for e in other_run} & {e["event_id"] for e in first}
    assert other_run[0]["data"]["customer_id"].startswith(("c-r2-", "g-r2-"))


def test_event_ids_are_unique(long_run: list[dict[str, Any]]) -> None:
    assert len({e["event_id"] for e in long_run}) == len(long_run)


def test_the_story_has_every_input_type_and_the_interesting_cases(long_run: list[dict[str, Any]]) -> None:
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in long_run:
        by_type[event["type"]].append(event["data"])
    assert set(by_type) == INPUT_TYPES
    orders = by_type["order.placed"]
    assert any(o["is_guest_checkout"] for o in orders) and any(o["discount_codes"] for o in orders)
    assert {o["channel"] for o in orders} >= {"web_shop", "amazon", "ebay", "phone"}
    assert {o["shipping_address"]["city"] for o in orders if "shipping_address" in o} >= {"Berlin", "Dortmund", "Köln"}
    assert max(Counter(o["customer_id"] for o in orders).values()) >= 2, "no repeat orders"
    totals = {o["order_id"]: o["total_minor"] for o in orders}
    assert any(r["amount_minor"] < totals[r["order_id"]] for r in by_type["order.refunded"]), "no partial refund"
    assert {r["reason"] for r in by_type["order.refunded"]} >= {"returned", "cancelled"}
    assert {c["reason"] for c in by_type["order.cancelled"]} == {"customer_request", "payment_failed"}
    checked_out = {c["cart_id"] for c in by_type["cart.checked_out"]}
    assert {c["cart_id"] for c in by_type["cart.updated"]} - checked_out, "no abandoned carts"
    statuses = {s["status"] for s in by_type["shipment.status_updated"]}
    assert statuses >= {"in_transit", "out_for_delivery", "delivered", "exception", "failed_attempt"}
    assert {s["carrier"] for s in by_type["shipment.created"]} == {"dhl", "dpd", "gls", "hermes", "ups"}
    ratings = Counter(r["rating"] for r in by_type["review.submitted"])
    assert ratings[5] > ratings[1] + ratings[2] > 0
    customers = by_type["customer.created"]
    assert {c["locale"][:2] for c in customers} == {"de", "en"} and any("birthday" in c for c in customers)
    opted_in = [c for c in by_type["consent.changed"] if c["granted"] and c.get("double_opt_in_confirmed")]
    assert len(opted_in) > len(customers) / 3


def test_money_adds_up(long_run: list[dict[str, Any]]) -> None:
    orders = {}
    refunded: Counter[str] = Counter()
    for event in long_run:
        d = event["data"]
        if event["type"] == "order.placed":
            orders[d["order_id"]] = d
            assert all(line["total_minor"] == line["quantity"] * line["unit_price_minor"] for line in d["lines"])
            assert d["subtotal_minor"] == sum(line["total_minor"] for line in d["lines"])
            assert d["total_minor"] == d["subtotal_minor"] - d["discount_minor"] + d["shipping_minor"] > 0
            assert 0 < d["tax_minor"] < d["total_minor"]
        elif event["type"] == "order.refunded":
            lines = sum(line["amount_minor"] for line in d["lines"])
            assert lines + d.get("shipping_minor", 0) == d["amount_minor"]
            refunded[d["order_id"]] += d["amount_minor"]
        elif event["type"] == "order.paid":
            assert d["amount_minor"] == orders[d["order_id"]]["total_minor"]
    assert refunded and all(amount <= orders[order_id]["total_minor"] for order_id, amount in refunded.items())


def test_times_never_run_ahead_of_now_and_scans_move_forward() -> None:
    scans: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    created: set[str] = set()
    for now, events in simulate(3, 900, eps=30, day_seconds=10):
        for event in events:
            assert datetime.fromisoformat(event["occurred_at"]) <= now
            d = event["data"]
            if event["type"] == "shipment.created":
                created.add(d["shipment_id"])
            elif event["type"] == "shipment.status_updated":
                assert d["shipment_id"] in created
                scans[d["shipment_id"]].append((datetime.fromisoformat(d["scanned_at"]), d["status"]))
    assert len(scans) > 100
    for timeline in scans.values():
        assert [at for at, _ in timeline] == sorted(at for at, _ in timeline)
        assert len({at for at, _ in timeline}) == len(timeline) and timeline[0][1] == "in_transit"


def test_customers_exist_before_anything_else_is_said_about_them(long_run: list[dict[str, Any]]) -> None:
    known: set[str] = set()
    for event in long_run:
        customer_id = event["data"].get("customer_id")
        if event["type"] == "customer.created":
            known.add(customer_id)
        elif customer_id is not None:
            assert customer_id in known, event


def test_the_rate_follows_the_target() -> None:
    ticks = simulate(11, 1800, eps=20, day_seconds=30)
    counts = [len(events) for _, events in ticks]
    assert 0.9 * 20 < sum(counts) / len(counts) < 1.1 * 20
    assert 0.9 * 20 < sum(counts[600:]) / len(counts[600:]) < 1.1 * 20


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone"):
        ShopSimulation().next_events(datetime(2025, 3, 14, 8, 0))


# --- posting to the gateway ------------------------------------------------------------------------------------------


class FakeGateway:
    """Answers like POST /v1/events; `script` holds responses (status codes or exceptions) to give first."""

    def __init__(self, script: list[int | Exception] | None = None) -> None:
        self.script = list(script or [])
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.script:
            step = self.script.pop(0)
            if isinstance(step, Exception):
                raise step
            return httpx.Response(step, json={"type": "about:blank", "title": "nope", "detail": "bad field data.x"})
        events = json.loads(request.content)["events"]
        return httpx.Response(200, json={"accepted": len(events), "duplicate": 0, "rejected": 0, "results": []})

    def batches(self) -> list[list[dict[str, Any]]]:
        return [json.loads(r.content)["events"] for r in self.requests]


async def shop(gateway: FakeGateway, run_for_s: float = 0.45) -> tuple[int, list[str]]:
    stop, lines = asyncio.Event(), []
    asyncio.get_running_loop().call_later(run_for_s, stop.set)
    accepted = await run_simulated_shop(
        "http://gateway.test",
        "rk_test_key",
        events_per_second=1000,
        stop=stop,
        log=lines.append,
        max_backoff_s=0.01,
        transport=httpx.MockTransport(gateway),
    )
    return accepted, lines


async def test_posts_paced_batches_with_the_api_key() -> None:
    gateway = FakeGateway()
    accepted, _ = await shop(gateway)
    batches = gateway.batches()
    assert accepted == sum(len(b) for b in batches) > 100
    assert all(len(b) <= 500 for b in batches) and len(batches) >= 3
    request = gateway.requests[0]
    assert request.url == "http://gateway.test/v1/events" and request.method == "POST"
    assert request.headers["authorization"] == "Bearer rk_test_key"
    assert all("merchant_id" not in event for batch in batches for event in batch)


async def test_transient_failures_are_retried_with_the_same_batch() -> None:
    gateway = FakeGateway([503, httpx.ConnectError("refused"), 429])
    accepted, lines = await shop(gateway)
    batches = gateway.batches()
    assert batches[0] == batches[1] == batches[2] == batches[3]
    assert accepted == sum(len(b) for b in batches[3:])
    assert sum("retry" in line for line in lines) == 3


async def test_a_refusal_is_logged_loudly_with_the_body_and_the_shop_goes_on() -> None:
    gateway = FakeGateway([422])
    accepted, lines = await shop(gateway)
    assert any("SIMULATOR BUG" in line and "422" in line and "data.x" in line for line in lines)
    assert accepted == sum(len(b) for b in gateway.batches()[1:]) > 0


async def test_a_wrong_api_key_stops_the_shop() -> None:
    gateway = FakeGateway([401])
    accepted, lines = await shop(gateway, run_for_s=5)
    assert accepted == 0 and len(gateway.requests) == 1 and "API key" in lines[-1]
