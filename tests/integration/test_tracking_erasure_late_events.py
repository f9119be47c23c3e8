"""Tracking's erasure tombstone on real PostgreSQL: orders, parcels and scans published before a customer's erasure but
applied after it (shop.orders and shop.shipments are other topics than the erasure's) bring no postcode, tracking
number, carrier link or scan place back, neither into tracking's tables nor into what it asks notifications to send;
the parcels are still followed, and other customers keep everything."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from services.common.consumer import BatchConsumer, RawMessage
from services.common.envelope import new_envelope
from services.tracking.adapters.privacy import export_customer
from services.tracking.entrypoints.erasures import subscription
from tests.integration.test_tracking_erasure import pool  # noqa: F401  (the migrated tracking schema)
from tests.tracking_events import CONTRACT, created, placed, scan
from tests.tracking_service import TrackingService

pytestmark = pytest.mark.integration

MON = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DOOR = {"city": "Dortmund", "postcode": "44135", "country": "DE"}


def personal(found: object) -> list[str]:
    text = json.dumps(found, default=str)
    return [clue for clue in ("44135", "Dortmund", "TNs", "track.example") if clue in text]


async def test_late_orders_parcels_and_scans_of_an_erased_customer_keep_nothing_personal(
    pool,  # noqa: F811
    producer,
    kernel_metrics,
    merchant_id,
) -> None:
    tracking = TrackingService(pool, producer, kernel_metrics, merchant_id)
    await tracking.deliver(placed("o1", MON, customer="c1"), created("s1", "o1", MON, customer="c1"))
    erasure = new_envelope(
        "customer.erasure_requested", merchant_id, {"customer_id": "c1", "request_id": "gdpr-1"}, occurred_at=MON
    )
    erasures = BatchConsumer(
        service="tracking", subscription=subscription(), pool=pool, producer=producer, contract=CONTRACT,
        metrics=kernel_metrics,
    )  # fmt: skip
    assert len((await erasures.process_batch([RawMessage("shop.customers", 0, 1, b"k", erasure.to_bytes())])).applied)
    assert personal(await export_customer(pool, merchant_id, "c1")) == []
    asked_before = len(await tracking.emitted("notification.requested"))

    # Published before the erasure, applied after it: a scan with the door's address of the erased parcel, a second
    # order with its parcel and scans (the scans name no customer: their parcel does), and another customer's.
    await tracking.deliver(
        scan("s1", "o1", "out_for_delivery", MON + timedelta(hours=20), location=DOOR, tracking_number="TNs1"),
        placed("o2", MON, customer="c1"),
        created("s2", "o2", MON, customer="c1"),
        scan("s2", "o2", "in_transit", MON + timedelta(hours=2), location=DOOR),
        placed("o3", MON, customer="c2"),
        created("s3", "o3", MON, customer="c2"),
        scan("s3", "o3", "in_transit", MON + timedelta(hours=2), location=DOOR),
    )
    erased = await export_customer(pool, merchant_id, "c1")
    assert personal(erased) == []
    assert sorted(s["shipment_id"] for s in erased["shipments"]) == ["s1", "s2"]
    assert [s["location"] for s in erased["scans"]] == [{"country": "DE"}, {"country": "DE"}]
    assert {o["state"]["country"] for o in erased["orders"]} == {"DE"}  # the lanes' statistics stay whole
    assert await pool.fetchval("SELECT count(tracking_number) FROM shipments WHERE customer_id = 'c1'") == 0
    other = await export_customer(pool, merchant_id, "c2")
    assert personal(other) == ["44135", "Dortmund", "TNs", "track.example"]

    # What tracking asked notifications to send about c1's parcels names no tracking number or link either.
    asked = (await tracking.emitted("notification.requested"))[asked_before:]
    assert {e.data["shipment_id"] for e in asked if e.data["customer_id"] == "c1"} == {"s1", "s2"}
    assert personal([e.data for e in asked if e.data["customer_id"] == "c1"]) == []
    assert personal([e.data for e in asked if e.data["customer_id"] == "c2"]) == ["TNs", "track.example"]

    # The parcels are still followed: delivered, and the order with them.
    await tracking.deliver(scan("s2", "o2", "delivered", MON + timedelta(days=1), location=DOOR))
    delivered = [e for e in await tracking.emitted("tracking.order_delivered") if e.data["order_id"] == "o2"]
    assert len(delivered) == 1 and delivered[0].data["customer_id"] == "c1"
    assert personal(await export_customer(pool, merchant_id, "c1")) == []
