"""Everything loyalty holds about one customer, for an export (GDPR Art. 15/20)."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.common.erasures import erasures_of_customer


async def export_customer(pool: asyncpg.Pool, merchant_id: str, customer_id: str) -> dict[str, Any]:
    """The account (balances, tier, membership, dates, birthday, referral), every ledger entry, the orders with the
    points they earned, the discount codes and the erasures applied. Empty sections for an unknown customer.

    After an erasure the account stays pseudonymous (balances and ledger: the points were real), its personal fields
    (birthday, referral) are empty.
    """
    account = await pool.fetchrow(
        "SELECT customer_id, available, pending, lifetime_earned, redeemed, expired, reversed, debt, tier, state, "
        "updated_at FROM accounts WHERE merchant_id = $1 AND customer_id = $2",
        merchant_id,
        customer_id,
    )
    ledger = await pool.fetch(
        "SELECT entry_id, kind, bucket, points, shortfall, reason_code, order_id, shipment_id, note, rule_version, "
        "reverses_entry_id, source_type, source_event_id, occurred_at, recorded_at FROM ledger_entries "
        "WHERE merchant_id = $1 AND customer_id = $2 ORDER BY id",
        merchant_id,
        customer_id,
    )
    orders = await pool.fetch(
        "SELECT order_id, state, updated_at FROM orders WHERE merchant_id = $1 AND customer_id = $2 ORDER BY order_id",
        merchant_id,
        customer_id,
    )
    codes = await pool.fetch(
        "SELECT code, kind, details, expires_at, used_at, created_at FROM codes "
        "WHERE merchant_id = $1 AND customer_id = $2 ORDER BY created_at",
        merchant_id,
        customer_id,
    )
    return {
        "account": dict(account) if account is not None else None,
        "ledger": [dict(r) for r in ledger],
        "orders": [dict(r) for r in orders],
        "codes": [dict(r) for r in codes],
        "erasures": await erasures_of_customer(pool, merchant_id, customer_id),
    }
