"""Shopify webhooks through the gateway on the real broker and PostgreSQL: verified on the raw bytes with the
merchant's secret, one uniform 401 otherwise, deduplicated by webhook id (and by body), published exactly once,
and refunds or fulfillments that arrive before their order published as soon as the order's customer is known."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from services.common.service_app import Runtime, build_service_app
from services.common.settings import Settings
from services.gateway.adapters.merchants import create_key
from services.gateway.bootstrap import SPEC as GATEWAY
from services.gateway.core import shopify
from tests.support import consume_until

ADMIN = "integration-admin-token-0123456789"
FIXTURES = Path(__file__).parent.parent / "fixtures" / "shopify"
SHOP = "kaffeeroesterei-dortmund.myshopify.com"
ANNA = "7219384756201"


def raw(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


@dataclass
class Gateway:
    http: httpx.AsyncClient
    runtime: Runtime
    kafka: str

    async def merchant(self, secret: str | None = None) -> tuple[str, str]:
        """A new merchant (id, API key), with its Shopify secret set when one is given."""
        merchant_id = f"m-{uuid.uuid4().hex[:10]}"
        created = await self.http.post(
            "/admin/v1/merchants",
            headers={"Authorization": f"Bearer {ADMIN}"},
            json={"merchant_id": merchant_id, "name": "Kaffeerösterei Dortmund"},
        )
        assert created.status_code == 201, created.text
        key = created.json()["api_key"]
        if secret is not None:
            response = await self.put_secret(key, secret)
            assert response.status_code == 200, response.text
        return merchant_id, key

    async def put_secret(self, key: str, secret: str, **extra: Any) -> httpx.Response:
        return await self.http.put(
            "/v1/webhooks/shopify/secret", headers={"Authorization": f"Bearer {key}"}, json={"secret": secret, **extra}
        )

    async def deliver(
        self,
        merchant_id: str,
        topic: str,
        body: bytes,
        *,
        secret: str,
        webhook_id: str | None = None,
        signature: str | None = None,
        **headers: str,
    ) -> httpx.Response:
        sent = {
            shopify.HMAC_HEADER: shopify.sign(secret, body) if signature is None else signature,
            shopify.TOPIC_HEADER: topic,
            shopify.WEBHOOK_ID_HEADER: str(uuid.uuid4()) if webhook_id is None else webhook_id,
            shopify.SHOP_DOMAIN_HEADER: SHOP,
            "X-Shopify-API-Version": "2025-01",
            "Content-Type": "application/json",
            **headers,
        }
        sent = {k: v for k, v in sent.items() if v != ""}  # "" leaves a header out
        return await self.http.post(f"/v1/webhooks/shopify/{merchant_id}", content=body, headers=sent)

    async def published(self, topic: str, merchant_id: str, *, count: int, timeout_s: float = 20) -> list[Any]:
        """The records of this merchant on a Kafka topic (waits for `count`, or `timeout_s`)."""

        def mine(record: Any) -> bool:
            return json.loads(record.value)["merchant_id"] == merchant_id

        return await consume_until(self.kafka, topic, mine, count=count, timeout_s=timeout_s)

    async def rows(self, merchant_id: str) -> dict[str, asyncpg.Record]:
        rows = await self.runtime.pool.fetch(
            "SELECT * FROM processed_webhooks WHERE merchant_id = $1 ORDER BY received_at", merchant_id
        )
        return {r["webhook_id"]: r for r in rows}


@pytest.fixture
async def gateway(infra, topics) -> AsyncIterator[Gateway]:
    settings = Settings(
        KAFKA_BOOTSTRAP_SERVERS=infra.kafka,
        DATABASE_URL=infra.database_url,
        admin_token=ADMIN,
        public_base_url="https://retention.example",
        env="test",
    )
    app = build_service_app(GATEWAY, settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
            yield Gateway(client, app.state.runtime, infra.kafka)


async def test_the_secret_needs_config_write_and_is_never_shown(gateway: Gateway) -> None:
    merchant_id, key = await gateway.merchant()
    secret = "shpss_" + uuid.uuid4().hex
    assert (await gateway.http.put("/v1/webhooks/shopify/secret", json={"secret": secret})).status_code == 401
    events_only = await create_key(gateway.runtime.pool, merchant_id, scopes=("events:write",))
    assert (await gateway.put_secret(events_only, secret)).status_code == 403
    too_short = await gateway.put_secret(key, "short")
    assert too_short.status_code == 422 and too_short.json()["errors"][0]["path"] == "secret"

    response = await gateway.put_secret(key, secret, default_locale="de-AT")
    assert response.status_code == 200, response.text
    config = response.json()
    assert secret not in response.text
    assert config["webhook_url"] == f"https://retention.example/v1/webhooks/shopify/{merchant_id}"
    assert config["default_locale"] == "de-AT" and "refunds/create" in config["topics"]
    assert len(config["secret_fingerprint"]) == 12 and config["secret_fingerprint"] not in secret

    rotated = "shpss_" + uuid.uuid4().hex
    assert (await gateway.put_secret(key, rotated)).status_code == 200
    old = await gateway.deliver(merchant_id, "orders/create", raw("orders_create"), secret=secret)
    new = await gateway.deliver(merchant_id, "orders/create", raw("orders_create"), secret=rotated)
    assert old.status_code == 401 and new.status_code == 200


async def test_orders_create_is_published_once_and_a_replay_is_a_duplicate(gateway: Gateway) -> None:
    secret = "shpss_" + uuid.uuid4().hex
    merchant_id, _ = await gateway.merchant(secret)
    body, webhook_id = raw("orders_create"), str(uuid.uuid4())

    first = await gateway.deliver(merchant_id, "orders/create", body, secret=secret, webhook_id=webhook_id)
    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["status"] == "accepted" and answer["topic"] == "orders/create" and len(answer["event_ids"]) == 1

    replay = await gateway.deliver(merchant_id, "orders/create", body, secret=secret, webhook_id=webhook_id)
    assert replay.status_code == 200
    assert replay.json() | {"detail": None} == {**answer, "status": "duplicate", "detail": None}
    assert replay.json()["detail"] == "first received as accepted"
    # The webhook id header is not signed: the same bytes under a new id are still the same event.
    again = await gateway.deliver(merchant_id, "orders/create", body, secret=secret)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert again.json()["event_ids"] == answer["event_ids"]

    records = await gateway.published("shop.orders", merchant_id, count=2, timeout_s=6)
    assert len(records) == 1, "published exactly once"
    event = json.loads(records[0].value)
    assert event["event_id"] == answer["event_ids"][0] and event["type"] == "order.placed"
    assert event["data"]["order_id"] == "5820948211234" and event["data"]["total_minor"] == 6460
    assert records[0].key == f"{merchant_id}:{ANNA}".encode()

    rows = await gateway.rows(merchant_id)
    assert rows[webhook_id]["shop_domain"] == SHOP and rows[webhook_id]["topic"] == "orders/create"
    assert rows[webhook_id]["status"] == "accepted" and rows[webhook_id]["body"] is None


async def test_concurrent_deliveries_of_one_webhook_publish_once(gateway: Gateway) -> None:
    """Shopify retries after 5 s without an answer, so a slow first attempt and its retry can overlap."""
    secret = "shpss_" + uuid.uuid4().hex
    merchant_id, _ = await gateway.merchant(secret)
    body, webhook_id = raw("customers_create"), str(uuid.uuid4())
    responses = await asyncio.gather(
        *(
            gateway.deliver(merchant_id, "customers/create", body, secret=secret, webhook_id=webhook_id)
            for _ in range(6)
        )
    )
    statuses = sorted(r.json()["status"] for r in responses)
    assert {r.status_code for r in responses} == {200} and statuses.count("accepted") == 1, statuses
    assert len({tuple(r.json()["event_ids"]) for r in responses}) == 1
    assert len(await gateway.published("shop.customers", merchant_id, count=2, timeout_s=6)) == 1


async def test_every_failed_verification_is_the_same_401_and_publishes_nothing(gateway: Gateway) -> None:
    secret = "shpss_" + uuid.uuid4().hex
    merchant_id, _ = await gateway.merchant(secret)
    other_id, _ = await gateway.merchant("shpss_" + uuid.uuid4().hex)
    unconfigured_id, _ = await gateway.merchant()
    body = raw("orders_create")
    reserialised = json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()
    assert json.loads(reserialised) == json.loads(body) and reserialised != body

    attempts = {
        "wrong secret": await gateway.deliver(merchant_id, "orders/create", body, secret="shpss_guessed-0123456789"),
        "re-serialised body": await gateway.deliver(
            merchant_id, "orders/create", reserialised, secret=secret, signature=shopify.sign(secret, body)
        ),
        "missing header": await gateway.deliver(merchant_id, "orders/create", body, secret=secret, signature=""),
        "not base64": await gateway.deliver(merchant_id, "orders/create", body, secret=secret, signature="%%%"),
        "another merchant's path": await gateway.deliver(other_id, "orders/create", body, secret=secret),
        "no secret set": await gateway.deliver(unconfigured_id, "orders/create", body, secret=secret),
        "unknown merchant": await gateway.deliver("m-nobody", "orders/create", body, secret=secret),
        "malformed merchant": await gateway.deliver("not a merchant!", "orders/create", body, secret=secret),
    }
    bodies = {name: (r.status_code, r.headers["content-type"], r.text) for name, r in attempts.items()}
    assert {status for status, _, _ in bodies.values()} == {401}, bodies
    assert len({(ct, text) for _, ct, text in bodies.values()}) == 1, "one answer, whatever failed"
    assert attempts["wrong secret"].json() == {
        "type": "about:blank",
        "title": "Invalid webhook signature",
        "status": 401,
        "detail": "The signature does not match this body for this merchant.",
    }
    assert attempts["wrong secret"].headers["content-type"] == "application/problem+json"

    for name in (merchant_id, other_id, unconfigured_id):
        assert await gateway.rows(name) == {}
    assert await gateway.published("shop.orders", merchant_id, count=1, timeout_s=3) == []


async def test_refunds_and_fulfillments_before_their_order_are_published_once_it_arrives(gateway: Gateway) -> None:
    secret = "shpss_" + uuid.uuid4().hex
    merchant_id, _ = await gateway.merchant(secret)
    ids = {name: str(uuid.uuid4()) for name in ("refund", "fulfillment", "order")}

    refund = await gateway.deliver(
        merchant_id, "refunds/create", raw("refunds_create"), secret=secret, webhook_id=ids["refund"]
    )
    parcel = await gateway.deliver(
        merchant_id, "fulfillments/create", raw("fulfillments_create"), secret=secret, webhook_id=ids["fulfillment"]
    )
    for response in (refund, parcel):
        assert response.status_code == 200 and response.json()["status"] == "parked", response.text
        assert response.json()["event_ids"] == [] and "5820948211234" in response.json()["detail"]

    order = await gateway.deliver(
        merchant_id, "orders/create", raw("orders_create"), secret=secret, webhook_id=ids["order"]
    )
    assert order.json()["status"] == "accepted"
    rows = await gateway.rows(merchant_id)
    assert [rows[ids[n]]["status"] for n in ("refund", "fulfillment")] == ["accepted", "accepted"]
    assert rows[ids["refund"]]["body"] is None  # kept only while parked

    replay = await gateway.deliver(
        merchant_id, "refunds/create", raw("refunds_create"), secret=secret, webhook_id=ids["refund"]
    )
    assert replay.json()["status"] == "duplicate" and replay.json()["detail"] == "first received as accepted"

    orders = await gateway.published("shop.orders", merchant_id, count=3, timeout_s=8)
    by_type = {json.loads(r.value)["type"]: json.loads(r.value) for r in orders}
    assert sorted(json.loads(r.value)["type"] for r in orders) == ["order.placed", "order.refunded"]
    refunded = by_type["order.refunded"]
    assert refunded["data"]["customer_id"] == ANNA and refunded["data"]["amount_minor"] == 2326
    assert str(refunded["event_id"]) == str(rows[ids["refund"]]["event_ids"][0])
    shipments = await gateway.published("shop.shipments", merchant_id, count=1)
    assert json.loads(shipments[0].value)["data"]["customer_id"] == ANNA
    assert shipments[0].key == f"{merchant_id}:5820948211234".encode()


async def test_every_topic_reaches_its_kafka_topic(gateway: Gateway) -> None:
    secret = "shpss_" + uuid.uuid4().hex
    merchant_id, key = await gateway.merchant()
    assert (await gateway.put_secret(key, secret, default_locale="de-DE")).status_code == 200
    deliveries = [
        ("orders/create", "orders_create"),
        ("orders/paid", "orders_paid"),
        ("orders/cancelled", "orders_cancelled"),
        ("refunds/create", "refunds_create"),
        ("fulfillments/create", "fulfillments_create"),
        ("fulfillments/update", "fulfillments_update"),
        ("customers/create", "customers_create"),
        ("customers/update", "customers_update"),
        ("checkouts/update", "checkouts_update"),
    ]
    for topic, fixture in deliveries:
        response = await gateway.deliver(merchant_id, topic, raw(fixture), secret=secret)
        assert response.status_code == 200 and response.json()["status"] == "accepted", (topic, response.text)

    expected = {
        "shop.orders": ["order.cancelled", "order.paid", "order.placed", "order.refunded"],
        "shop.shipments": ["shipment.created", "shipment.status_updated"],
        "shop.customers": ["customer.created", "customer.updated"],
        "shop.carts": ["cart.updated"],
    }
    for kafka_topic, types in expected.items():
        records = await gateway.published(kafka_topic, merchant_id, count=len(types))
        assert sorted(json.loads(r.value)["type"] for r in records) == types, kafka_topic
    customers = await gateway.published("shop.customers", merchant_id, count=2)
    assert {json.loads(r.value)["data"]["locale"] for r in customers} == {"de-DE"}  # the merchant's default


async def test_verified_but_unmappable_is_a_422_that_a_retry_can_still_pass(gateway: Gateway) -> None:
    secret = "shpss_" + uuid.uuid4().hex
    merchant_id, _ = await gateway.merchant(secret)
    webhook_id = str(uuid.uuid4())
    bad = json.loads(raw("orders_create"))
    bad["currency"] = "EURO"
    refused = await gateway.deliver(
        merchant_id, "orders/create", json.dumps(bad).encode(), secret=secret, webhook_id=webhook_id
    )
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"] == [{"path": "currency", "message": "'EURO' is not an ISO 4217 currency code"}]
    assert await gateway.rows(merchant_id) == {}  # not recorded: Shopify's retry gets another chance

    fixed = await gateway.deliver(
        merchant_id, "orders/create", raw("orders_create"), secret=secret, webhook_id=webhook_id
    )
    assert fixed.status_code == 200 and fixed.json()["status"] == "accepted"

    no_id = await gateway.deliver(merchant_id, "orders/create", raw("orders_create"), secret=secret, webhook_id="")
    assert no_id.status_code == 422 and no_id.json()["errors"][0]["path"] == shopify.WEBHOOK_ID_HEADER


async def test_test_notifications_and_unmapped_topics_are_acknowledged_not_published(gateway: Gateway) -> None:
    secret = "shpss_" + uuid.uuid4().hex
    merchant_id, _ = await gateway.merchant(secret)
    test = await gateway.deliver(
        merchant_id, "orders/create", raw("orders_create"), secret=secret, **{shopify.TEST_HEADER: "true"}
    )
    assert test.status_code == 200 and test.json()["status"] == "ignored" and "test" in test.json()["detail"]
    product = await gateway.deliver(merchant_id, "products/update", b'{"id": 632910392}', secret=secret)
    assert product.status_code == 200 and product.json()["status"] == "ignored"
    assert [r["status"] for r in (await gateway.rows(merchant_id)).values()] == ["ignored", "ignored"]
    assert await gateway.published("shop.orders", merchant_id, count=1, timeout_s=3) == []


async def test_openapi_documents_the_webhook(gateway: Gateway) -> None:
    openapi = (await gateway.http.get("/openapi.json")).json()
    post = openapi["paths"]["/v1/webhooks/shopify/{merchant_id}"]["post"]
    headers = {p["name"] for p in post["parameters"] if p.get("in") == "header"}  # others add $ref parameters
    assert {shopify.HMAC_HEADER, shopify.TOPIC_HEADER, shopify.WEBHOOK_ID_HEADER, shopify.SHOP_DOMAIN_HEADER} <= headers
    assert post["summary"] and "HMAC-SHA256" in post["description"]
    assert {"200", "401", "422", "429"} <= set(post["responses"])
    assert set(post["responses"]["200"]["content"]["application/json"]["examples"]) >= {"accepted", "duplicate"}
    answer = openapi["components"]["schemas"]["ShopifyWebhookConfig"]["properties"]
    assert "secret" not in answer and "secret_fingerprint" in answer  # the secret goes in, never out
