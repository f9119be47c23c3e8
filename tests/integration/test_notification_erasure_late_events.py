"""Notifications' erasure tombstone on real PostgreSQL: a mail request or an order published before a customer's
erasure but applied after it (another topic than shop.customers) brings no personal data back and sends nothing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from services.common.envelope import new_envelope
from services.common.migrations import apply_migrations, migrations_for
from services.notifications.adapters.privacy import export_customer
from services.notifications.bootstrap import SPEC as NOTIFICATIONS
from services.notifications.entrypoints.consumers import handle_contacts, handle_shop_events, handle_triggers
from tests.integration.test_notification_sender import customer_event
from tests.tracking_events import placed

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
async def pool(schema_pool) -> asyncpg.Pool:
    schema, pool = schema_pool
    await apply_migrations(pool, schema, migrations_for(NOTIFICATIONS.migrations))
    return pool


def shipped(merchant_id: str, customer_id: str, shipment_id: str):
    """What tracking asks for when a parcel is announced (services/tracking/domain/engine.py `notify`)."""
    return new_envelope(
        "notification.requested",
        merchant_id,
        {
            "customer_id": customer_id,
            "message": "shipped",
            "category": "transactional",
            "trigger_id": f"tracking:shipped:{shipment_id}",
            "order_id": f"o-{shipment_id}",
            "shipment_id": shipment_id,
            "variables": {"carrier": "dhl", "tracking_number": f"00340434161094{shipment_id}",
                          "tracking_url": f"https://track.example/{shipment_id}"},
        },
        occurred_at=NOW,
    )  # fmt: skip


def order(merchant_id: str, order_id: str, customer_id: str):
    return placed(order_id, NOW, customer=customer_id).model_copy(update={"merchant_id": merchant_id})


async def apply(pool: asyncpg.Pool, handler, *events) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await handler(conn, list(events))


async def test_a_late_request_or_order_of_an_erased_customer_stores_nothing_personal(pool, merchant_id) -> None:
    await apply(pool, handle_contacts, customer_event(merchant_id, "c1"), customer_event(merchant_id, "c2"))
    erasure = new_envelope(
        "customer.erasure_requested", merchant_id, {"customer_id": "c1", "request_id": "gdpr-1"}, occurred_at=NOW
    )
    await apply(pool, handle_contacts, erasure)

    # Published before the erasure, applied after it: tracking's "shipped" and the shop's order, for c1 and for c2.
    await apply(pool, handle_triggers, shipped(merchant_id, "c1", "s1"), shipped(merchant_id, "c2", "s2"))
    await apply(pool, handle_shop_events, order(merchant_id, "o-1", "c1"), order(merchant_id, "o-2", "c2"))

    rows = await pool.fetch(
        "SELECT customer_id, template, status, status_reason, context FROM notifications ORDER BY customer_id, template"
    )
    erased = [dict(r) for r in rows if r["customer_id"] == "c1"]
    assert {"shipped", "order_received"} <= {r["template"] for r in erased}
    assert all(r["status"] == "suppressed" and r["status_reason"] == "erased on request" for r in erased)
    assert all(r["context"] == {} for r in erased)
    kept = {r["template"]: r for r in rows if r["customer_id"] == "c2"}
    assert kept["shipped"]["status"] == "pending" and kept["shipped"]["context"]["tracking_number"].endswith("s2")
    assert kept["order_received"]["status"] == "pending" and kept["order_received"]["context"]["order_number"] == "O-2"
    facts = await pool.fetch("SELECT customer_id FROM order_facts ORDER BY customer_id")
    assert [r["customer_id"] for r in facts] == ["c2"]

    export = await export_customer(pool, merchant_id, "c1")
    text = json.dumps(export, default=str)
    assert "00340434161094" not in text and "track.example" not in text and "O-1" not in text
    assert export["contact"] is None and export["orders"] == []
    assert [e["request_id"] for e in export["erasures"]] == ["gdpr-1"]
    # The same request again (a redelivery) is still one row, still empty; the other merchant's c1 is not erased.
    await apply(pool, handle_triggers, shipped(merchant_id, "c1", "s1"))
    assert await pool.fetchval("SELECT count(*) FROM notifications WHERE customer_id = 'c1'") == len(erased)
    other = f"m-{uuid.uuid4().hex[:10]}"
    await apply(pool, handle_triggers, shipped(other, "c1", "s3"))
    row = await pool.fetchrow("SELECT status, context FROM notifications WHERE merchant_id = $1", other)
    assert row["status"] == "pending" and row["context"]["tracking_number"].endswith("s3")
