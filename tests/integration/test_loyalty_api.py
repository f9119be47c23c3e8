"""Loyalty's HTTP API on real PostgreSQL: configuration, catalogue, redemption, history, clear 4xx problems."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from services.common.contract import load_contract
from services.common.http import install_problem_handlers
from services.common.metrics import KernelMetrics, new_registry
from services.common.migrations import apply_migrations, migrations_for
from services.common.outbox import OutboxRelay
from services.common.service_app import Runtime
from services.loyalty.bootstrap import SPEC as LOYALTY
from services.loyalty.entrypoints import api
from tests.integration.test_loyalty_ledger import LINES, Loyalty
from tests.loyalty_model import order_delivered, order_paid, order_placed, order_returned

T0 = datetime.now(UTC) - timedelta(days=40)


@pytest.fixture
async def pool(schema_pool) -> asyncpg.Pool:
    schema, pool = schema_pool
    await apply_migrations(pool, schema, migrations_for(LOYALTY.migrations))
    return pool


@pytest.fixture
async def client(pool, settings, producer) -> httpx.AsyncClient:
    registry = new_registry()
    metrics = KernelMetrics.create(registry)
    runtime = Runtime(
        service="loyalty", settings=settings, contract=load_contract(), registry=registry, metrics=metrics
    )
    runtime.pool = pool
    runtime.relay = OutboxRelay(service="loyalty", pool=pool, producer=producer, metrics=metrics)
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(api.router(runtime))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://loyalty") as http:
        yield http


@pytest.fixture
async def customer_with_points(pool, producer, kernel_metrics, merchant_id) -> str:
    """c1 with 160 available points (60 confirmed purchase points + 100 first-order bonus)."""
    loyalty = Loyalty(pool, producer, kernel_metrics, merchant_id)
    await loyalty.deliver(
        order_placed("c1", "o1", T0, LINES), order_paid("c1", "o1", T0), order_delivered("c1", "o1", T0)
    )
    await loyalty.run_jobs(T0 + timedelta(days=15))
    return merchant_id


def paths(response: httpx.Response) -> list[str]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return [e["path"] for e in response.json()["errors"]]


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"bonuses": {"signup": -5}}, "bonuses.signup"),
        ({"bonuses": {"review": 2.5}}, "bonuses.review"),
        ({"caps": [{"period": "week", "max_points": 10}]}, "caps[0].period"),
        (
            {"tiers": {"levels": [{"key": "gold", "name_de": "G", "name_en": "G", "threshold": -1}]}},
            "tiers.levels[0].threshold",
        ),
        ({"merchant_id": "someone-else"}, "merchant_id"),
    ],
)
async def test_bad_programme_configuration_is_a_422_with_the_field(client, merchant_id, config, path) -> None:
    response = await client.put(f"/internal/v1/merchants/{merchant_id}/programme", json=config)
    assert response.status_code == 422 and path in paths(response)


async def test_each_saved_programme_is_a_new_version(client, merchant_id) -> None:
    base = f"/internal/v1/merchants/{merchant_id}/programme"
    assert (await client.get(base)).json()["version"] == 0  # the platform default until the merchant saves one
    first = await client.put(base, json={"earning": {"points_per_unit": 2}})
    second = await client.put(base, json={"bonuses": {"review": 30}})
    assert (first.json()["version"], second.json()["version"]) == (1, 2)
    current = (await client.get(base)).json()
    assert current["config"]["bonuses"]["review"] == 30 and current["config"]["earning"]["points_per_unit"] == 1
    tiers = (await client.get(f"/internal/v1/merchants/{merchant_id}/tiers")).json()
    assert tiers["levels"][0]["threshold"] == 0


async def test_redemption_gives_a_code_once_per_client_key(client, customer_with_points) -> None:
    base = f"/internal/v1/merchants/{customer_with_points}"
    reward = {
        "name_de": "5 € Rabatt",
        "name_en": "€5 off",
        "type": "fixed_amount",
        "points_price": 100,
        "value_minor": 500,
    }
    assert (await client.put(f"{base}/rewards/five-off", json=reward)).status_code == 200
    assert [r["reward_id"] for r in (await client.get(f"{base}/rewards")).json()["items"]] == ["five-off"]

    body = {"reward_id": "five-off", "client_key": "order-77-redeem"}
    first = await client.post(f"{base}/customers/c1/redemptions", json=body)
    again = await client.post(f"{base}/customers/c1/redemptions", json=body)
    assert first.status_code == 201 and again.status_code == 200 and first.json() == again.json()
    assert first.json()["balance"] == 60 and first.json()["code"].startswith("LOY-")

    reused = await client.post(f"{base}/customers/c1/redemptions", json={**body, "reward_id": "other"})
    assert reused.status_code == 422 and paths(reused) == ["client_key"]
    summary = (await client.get(f"{base}/customers/c1/loyalty", params={"lang": "en"})).json()
    assert summary["available"] == 60 and summary["redeemed"] == 100
    assert summary["codes"][0]["code"] == first.json()["code"]
    assert summary["history"][0]["description"] == "100 points redeemed for a reward."


async def test_refused_redemptions_name_the_field(client, customer_with_points) -> None:
    base = f"/internal/v1/merchants/{customer_with_points}"
    await client.put(
        f"{base}/rewards/big", json={"name_de": "Groß", "name_en": "Big", "type": "free_shipping", "points_price": 5000}
    )
    unknown_reward = await client.post(
        f"{base}/customers/c1/redemptions", json={"reward_id": "nope", "client_key": "k-000001"}
    )
    above = await client.post(f"{base}/customers/c1/redemptions", json={"reward_id": "big", "client_key": "k-000002"})
    unknown_customer = await client.post(
        f"{base}/customers/ghost/redemptions", json={"reward_id": "big", "client_key": "k-000003"}
    )
    too_few = await client.post(
        f"{base}/customers/c1/points-payments", json={"points": 10, "order_total_minor": 5000, "client_key": "k-000004"}
    )
    smuggled = await client.post(
        f"{base}/customers/c1/redemptions", json={"reward_id": "big", "client_key": "k-000005", "points": -100}
    )
    assert (unknown_reward.status_code, paths(unknown_reward)) == (422, ["reward_id"])
    assert (above.status_code, paths(above)) == (422, ["points"])
    assert "needs 5000 points" in above.json()["detail"]
    assert (unknown_customer.status_code, paths(unknown_customer)) == (404, ["customer_id"])
    assert (too_few.status_code, paths(too_few)) == (422, ["points"])
    assert smuggled.status_code == 422 and "points" in paths(smuggled)
    bad_reward = await client.put(
        f"{base}/rewards/pct", json={"name_de": "P", "name_en": "P", "type": "percent_off", "points_price": 1}
    )
    assert bad_reward.status_code == 422 and bad_reward.json()["errors"][0]["message"].endswith(
        "percent_off: required for a percent_off reward"
    )


async def test_history_explains_every_change_in_german_and_pages_with_a_cursor(
    client, customer_with_points, pool, producer, kernel_metrics
) -> None:
    loyalty = Loyalty(pool, producer, kernel_metrics, customer_with_points)
    await loyalty.deliver(order_returned("c1", "o1", T0 + timedelta(days=16), {"l2": 1}, "rt-1"))
    base = f"/internal/v1/merchants/{customer_with_points}/customers/c1/loyalty/history"
    page = (await client.get(base, params={"limit": 2})).json()
    assert [i["reason_code"] for i in page["items"]] == ["order_returned", "first_order"]
    assert page["items"][0]["description"] == (
        "Rücksendung zu Bestellung o1: 20 Punkte für die zurückgesandten Artikel zurückgebucht."
    )
    rest = (await client.get(base, params={"limit": 2, "cursor": page["next_cursor"]})).json()
    assert [i["reason_code"] for i in rest["items"]] == ["purchase_confirmed", "purchase"]
    assert rest["items"][1]["description"].startswith("60 Punkte für Ihre Bestellung o1 vorgemerkt")
    missing = await client.get(f"/internal/v1/merchants/{customer_with_points}/customers/nobody/loyalty/history")
    assert missing.status_code == 404 and paths(missing) == ["customer_id"]


async def test_a_redeemed_code_is_spent_by_the_order_that_uses_it(
    client, customer_with_points, pool, producer, kernel_metrics
) -> None:
    base = f"/internal/v1/merchants/{customer_with_points}"
    reward = {"name_de": "Versandfrei", "name_en": "Free shipping", "type": "free_shipping", "points_price": 20}
    await client.put(f"{base}/rewards/ship", json=reward)
    code = (
        await client.post(f"{base}/customers/c1/redemptions", json={"reward_id": "ship", "client_key": "k-ship-1"})
    ).json()["code"]
    assert (await client.get(f"{base}/codes/{code}")).json()["status"] == "valid"

    loyalty = Loyalty(pool, producer, kernel_metrics, customer_with_points)
    order = order_placed("c1", "o2", T0 + timedelta(days=20), LINES)
    await loyalty.deliver(order.model_copy(update={"data": {**order.data, "discount_codes": [code.lower()]}}))
    used = (await client.get(f"{base}/codes/{code}")).json()
    assert used["status"] == "used" and used["valid"] is False and used["details"]["used_by_order"] == "o2"
    assert (await client.get(f"{base}/codes/NOPE-123456")).status_code == 404
