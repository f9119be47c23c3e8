"""Tracking's erasure (GDPR Art. 17) on real PostgreSQL: from shop.customers through its own consumer, the customer's
orders, parcels and scans lose what leads to the person, the delivery figures stay, and the parcel keeps working."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.common.consumer import BatchConsumer, RawMessage
from services.common.envelope import new_envelope
from services.common.migrations import apply_migrations, migrations_for
from services.tracking.adapters.privacy import export_customer
from services.tracking.bootstrap import SPEC as TRACKING
from services.tracking.entrypoints.erasures import subscription
from tests.tracking_events import CONTRACT, created, placed, scan
from tests.tracking_service import TrackingService

pytestmark = pytest.mark.integration

MON = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DOOR = {"city": "Dortmund", "postcode": "44135", "country": "DE"}


@pytest.fixture
async def pool(schema_pool) -> asyncpg.Pool:
    schema, pool = schema_pool
    await apply_migrations(pool, schema, migrations_for(TRACKING.migrations))
    return pool


async def test_an_erasure_keeps_the_delivery_figures_and_forgets_the_person(
    pool, producer, kernel_metrics, merchant_id
) -> None:
    tracking = TrackingService(pool, producer, kernel_metrics, merchant_id)
    await tracking.deliver(
        placed("o1", MON, customer="c1"),
        created("s1", "o1", MON, customer="c1"),
        scan("s1", "o1", "in_transit", MON + timedelta(hours=2), location=DOOR),
        created("s2", "o2", MON, customer="c1"),  # its order.placed never came: the order row is an empty placeholder
        placed("o3", MON, customer="c2"),
        created("s3", "o3", MON, customer="c2"),
        scan("s3", "o3", "in_transit", MON + timedelta(hours=2), location=DOOR),
    )
    before = await export_customer(pool, merchant_id, "c1")
    assert "44135" in json.dumps(before, default=str) and "TNs1" in json.dumps(before, default=str)

    erasure = new_envelope(
        "customer.erasure_requested", merchant_id, {"customer_id": "c1", "request_id": "gdpr-1"}, occurred_at=MON
    )
    consumer = BatchConsumer(
        service="tracking", subscription=subscription(), pool=pool, producer=producer, contract=CONTRACT,
        metrics=kernel_metrics,
    )  # fmt: skip
    message = RawMessage("shop.customers", 0, 1, b"k", erasure.to_bytes())
    assert len((await consumer.process_batch([message])).applied) == 1
    assert (await consumer.process_batch([message])).duplicates == 1

    after = await export_customer(pool, merchant_id, "c1")
    text = json.dumps(after, default=str)
    assert "44135" not in text and "Dortmund" not in text and "TNs" not in text and "track.example" not in text
    assert [e["request_id"] for e in after["erasures"]] == ["gdpr-1"]
    assert sorted(s["shipment_id"] for s in after["shipments"]) == ["s1", "s2"]
    assert [s["location"] for s in after["scans"]] == [{"country": "DE"}]
    assert {s["state"]["country"] for s in after["shipments"]} == {"DE"}  # the lanes' statistics stay whole
    assert await pool.fetchval("SELECT state FROM orders WHERE order_id = 'o2'") == {}
    other = json.dumps(await export_customer(pool, merchant_id, "c2"), default=str)
    assert "44135" in other and "TNs3" in other  # another customer is untouched

    # The parcel is still followed: a later scan and the scheduled checks read the erased rows as before.
    await tracking.deliver(scan("s1", "o1", "delivered", MON + timedelta(days=1)))
    await tracking.run_checks(MON + timedelta(days=10))
    (delivered,) = await tracking.emitted("tracking.order_delivered")
    assert delivered.data["order_id"] == "o1" and delivered.data["customer_id"] == "c1"
    assert "44135" not in json.dumps(await export_customer(pool, merchant_id, "c1"), default=str)
