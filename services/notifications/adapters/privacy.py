"""Everything notifications holds about one customer, for an export (GDPR Art. 15/20)."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.common.erasures import erasures_of_customer


async def export_customer(pool: asyncpg.Pool, merchant_id: str, customer_id: str) -> dict[str, Any]:
    """The contact (address, name, language, consent with its proof, bounces), every notification with what it said
    and what became of it, the order facts kept for later mails, and the erasures applied. Empty sections for an
    unknown customer.

    After an erasure the contact and order facts are gone and the notifications are pseudonymous rows (template,
    status, times) with an empty context.
    """
    contact = await pool.fetchrow(
        "SELECT customer_id, email, first_name, last_name, salutation, form_of_address, locale, time_zone, country, "
        "marketing_consent, marketing_consent_at, consent_source, opt_in_requested_at, opt_in_confirmed_at, "
        "bounced_at, bounce_reason, updated_at FROM contacts WHERE merchant_id = $1 AND customer_id = $2",
        merchant_id,
        customer_id,
    )
    notifications = await pool.fetch(
        "SELECT notification_id, template, category, context, status, status_reason, created_at, not_before, "
        "sent_at, trigger_id, trigger_at FROM notifications WHERE merchant_id = $1 AND customer_id = $2 "
        "ORDER BY created_at, notification_id",
        merchant_id,
        customer_id,
    )
    orders = await pool.fetch(
        "SELECT order_id, order_number, categories, placed_at FROM order_facts "
        "WHERE merchant_id = $1 AND customer_id = $2 ORDER BY placed_at, order_id",
        merchant_id,
        customer_id,
    )
    return {
        "contact": dict(contact) if contact is not None else None,
        "notifications": [dict(r) for r in notifications],
        "orders": [dict(r) for r in orders],
        "erasures": await erasures_of_customer(pool, merchant_id, customer_id),
    }
