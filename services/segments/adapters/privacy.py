"""Everything segments holds about one customer, for an export (GDPR Art. 15/20)."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.common.erasures import erasures_of_customer


async def export_customer(pool: asyncpg.Pool, merchant_id: str, customer_id: str) -> dict[str, Any]:
    """The profile as stored (person data, location, order figures, products, codes, reviews, consents, the event
    times conditions look at, lifecycle, RFM), its segments, the orders, the prediction, the hashed rows last pushed
    to ad platforms, and the erasures applied. Empty sections for an unknown customer.

    After an erasure the profile keeps only the pseudonymous id and anonymous order figures (KPIs stay whole); the
    hashed audience rows stay until the next push has removed the customer from the ad platform.
    """
    profile = await pool.fetchrow(
        "SELECT doc, memberships, erased, updated_at FROM profiles WHERE merchant_id = $1 AND customer_id = $2",
        merchant_id,
        customer_id,
    )
    orders = await pool.fetch(
        "SELECT order_id, placed_at, total_minor, refunded_minor, currency, channel, cancelled, products, categories, "
        "discount_codes FROM orders WHERE merchant_id = $1 AND customer_id = $2 ORDER BY placed_at, order_id",
        merchant_id,
        customer_id,
    )
    prediction = await pool.fetchrow(
        "SELECT probability_active, expected_orders_12m, predicted_clv_12m_minor, expected_next_order_at, computed_at "
        "FROM predictions WHERE merchant_id = $1 AND customer_id = $2",
        merchant_id,
        customer_id,
    )
    audiences = await pool.fetch(
        "SELECT segment_id, row FROM audience_exports WHERE merchant_id = $1 AND customer_id = $2 ORDER BY segment_id",
        merchant_id,
        customer_id,
    )
    return {
        "profile": dict(profile) if profile is not None else None,
        "orders": [dict(r) for r in orders],
        "prediction": dict(prediction) if prediction is not None else None,
        "audience_exports": [dict(r) for r in audiences],
        "erasures": await erasures_of_customer(pool, merchant_id, customer_id),
    }
