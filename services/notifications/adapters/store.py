"""Contacts and the notification state machine in PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.common.contract import Contract
from services.common.envelope import Envelope, derived_event_id, new_envelope
from services.common.erasures import erased_customers, record_erasures
from services.common.outbox import write_outbox
from services.notifications.domain.consent import ConsentChange
from services.notifications.domain.flows import Cancel, OrderFacts
from services.notifications.domain.messages import Contact, Decision, NotificationRequest
from services.notifications.domain.settings import NotificationSettings

#: Why a mail asked for after the customer's erasure was not sent (the reason `erase_customers` gives pending ones).
ERASED_REASON = "erased on request"


async def upsert_contacts(conn: asyncpg.Connection, events: list[Envelope]) -> None:
    """customer.created/updated carry a full snapshot: the newest by event time replaces the record.

    An absent optional field means "no longer known", so it is cleared, not kept; a late, older event
    never overwrites newer data.
    """
    rows = []
    for event in events:
        d = event.data
        rows.append(
            (
                event.merchant_id,
                d["customer_id"],
                d.get("email"),
                d.get("first_name"),
                d.get("last_name"),
                d.get("salutation"),
                d.get("locale") or "de",
                d.get("time_zone"),
                event.occurred_at,
                d.get("form_of_address"),
                (d.get("address") or {}).get("country"),
            )
        )
    await conn.executemany(
        """
        INSERT INTO contacts AS c (merchant_id, customer_id, email, first_name, last_name, salutation,
                                   locale, time_zone, updated_at, form_of_address, country)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        ON CONFLICT (merchant_id, customer_id) DO UPDATE SET
            email = EXCLUDED.email, first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,
            salutation = EXCLUDED.salutation, locale = EXCLUDED.locale, time_zone = EXCLUDED.time_zone,
            updated_at = EXCLUDED.updated_at, form_of_address = EXCLUDED.form_of_address,
            country = EXCLUDED.country,
            bounced_at = CASE WHEN c.email IS DISTINCT FROM EXCLUDED.email THEN NULL ELSE c.bounced_at END,
            bounce_reason = CASE WHEN c.email IS DISTINCT FROM EXCLUDED.email THEN NULL ELSE c.bounce_reason END
        WHERE c.updated_at IS NULL OR c.updated_at <= EXCLUDED.updated_at
        """,
        rows,
    )


async def insert_requests(
    conn: asyncpg.Connection, requests: list[NotificationRequest], *, replace: bool = False
) -> None:
    """Store requests once per trigger; `replace` moves a still pending one (a cart that changed again).

    A request for a customer erased here (published before the erasure, applied after it) is stored as erasure
    leaves a mail: suppressed, without its contents.
    """
    erased = await erased_customers(conn, {(r.merchant_id, r.customer_id) for r in requests})
    conflict = (
        "ON CONFLICT (notification_id) DO UPDATE SET context = EXCLUDED.context, not_before = EXCLUDED.not_before, "
        "give_up_at = EXCLUDED.give_up_at, trigger_at = EXCLUDED.trigger_at WHERE notifications.status = 'pending'"
        if replace
        else "ON CONFLICT DO NOTHING"
    )
    await conn.executemany(
        "INSERT INTO notifications (notification_id, merchant_id, customer_id, template, context, trigger_event, "
        "not_before, give_up_at, category, trigger_id, trigger_at, status, status_reason) "
        f"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) {conflict}",
        [
            (
                r.notification_id,
                r.merchant_id,
                r.customer_id,
                r.template,
                {} if gone else r.context,
                r.trigger_event,
                r.not_before,
                r.give_up_at,
                r.category,
                r.trigger_id,
                r.trigger_at,
                "suppressed" if gone else "pending",
                ERASED_REASON if gone else None,
            )
            for r in requests
            for gone in [(r.merchant_id, r.customer_id) in erased]
        ],
    )


async def record_consent(conn: asyncpg.Connection, changes: list[ConsentChange]) -> None:
    """E-mail marketing consent, newest by event time; a contact row is started if the customer is new. An `ask`
    leaves consent as it is and notes when the confirmation was asked for (the link must match it)."""
    await conn.executemany(
        """
        INSERT INTO contacts AS c (merchant_id, customer_id, marketing_consent, marketing_consent_at, consent_source,
                                   opt_in_requested_at, opt_in_confirmed_at)
        VALUES ($1, $2, $3::text = 'grant', $4::timestamptz, $5::text,
                CASE WHEN $3::text = 'ask' THEN $4::timestamptz END,
                CASE WHEN $3::text = 'grant' AND $5::text = 'double_opt_in' THEN $4::timestamptz END)
        ON CONFLICT (merchant_id, customer_id) DO UPDATE SET
            marketing_consent = CASE WHEN $3::text = 'ask' THEN c.marketing_consent ELSE $3::text = 'grant' END,
            marketing_consent_at = $4::timestamptz,
            consent_source = CASE WHEN $3::text = 'ask' THEN c.consent_source ELSE $5::text END,
            opt_in_requested_at = CASE WHEN $3::text = 'ask' THEN $4::timestamptz END,
            opt_in_confirmed_at = CASE WHEN $3::text = 'grant' AND $5::text = 'double_opt_in' THEN $4::timestamptz
                                       ELSE c.opt_in_confirmed_at END
        WHERE c.marketing_consent_at IS NULL OR c.marketing_consent_at <= $4::timestamptz
        """,
        [(c.merchant_id, c.customer_id, c.action, c.at, c.source) for c in changes],
    )


async def consenting_contacts(conn: asyncpg.Connection, keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these customers have e-mail marketing consent now."""
    if not keys:
        return set()
    rows = await conn.fetch(
        "SELECT c.merchant_id, c.customer_id FROM contacts c JOIN unnest($1::text[], $2::text[]) AS k(m, cu) "
        "ON c.merchant_id = k.m AND c.customer_id = k.cu WHERE c.marketing_consent",
        [m for m, _ in keys],
        [c for _, c in keys],
    )
    return {(r["merchant_id"], r["customer_id"]) for r in rows}


async def confirm_opt_in(
    pool: asyncpg.Pool, merchant_id: str, customer_id: str, asked_at: datetime, now: datetime
) -> bool:
    """The click on the confirmation link: consent from now on, if this is the sign-up still waiting (a later
    sign-up or a withdrawal makes an older link void)."""
    confirmed = await pool.fetchval(
        """
        UPDATE contacts SET marketing_consent = true, marketing_consent_at = $4, consent_source = 'double_opt_in',
                            opt_in_confirmed_at = $4, opt_in_requested_at = NULL
        WHERE merchant_id = $1 AND customer_id = $2 AND opt_in_requested_at = $3
        RETURNING true
        """,
        merchant_id,
        customer_id,
        asked_at,
        now,
    )
    return bool(confirmed)


async def consent_of(pool: asyncpg.Pool, merchant_id: str, customer_id: str) -> dict[str, Any]:
    row = await pool.fetchrow(
        "SELECT marketing_consent, marketing_consent_at, consent_source, opt_in_requested_at, opt_in_confirmed_at, "
        "bounced_at FROM contacts WHERE merchant_id = $1 AND customer_id = $2",
        merchant_id,
        customer_id,
    )
    found = dict(row) if row else {}
    return {
        "customer_id": customer_id,
        "email_marketing": bool(found.get("marketing_consent")),
        "changed_at": found.get("marketing_consent_at"),
        "source": found.get("consent_source"),
        "awaiting_confirmation_since": found.get("opt_in_requested_at"),
        "confirmed_at": found.get("opt_in_confirmed_at"),
        "bounced_at": found.get("bounced_at"),
    }


async def claim_due(
    pool: asyncpg.Pool,
    now: datetime,
    limit: int,
    decide: Callable[[dict[str, Any], NotificationSettings], Decision],
    retry_wait: timedelta,
    contract: Contract | None = None,
) -> list[dict[str, Any]]:
    """Decide every due notification in one transaction; returns those now `sending`.

    `sending` commits before any SMTP call, so a crash during the call never leads to a second send.
    """
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            """
            SELECT n.notification_id, n.merchant_id, n.customer_id, n.template, n.context, n.give_up_at, n.attempts,
                   n.category, n.trigger_at, c.email, c.first_name, c.last_name, c.salutation, c.locale, c.time_zone,
                   (c.bounced_at IS NOT NULL) AS bounced, c.form_of_address, c.country,
                   coalesce(c.marketing_consent, false) AS marketing_consent,
                   (c.updated_at IS NOT NULL) AS known
            FROM notifications n
            LEFT JOIN contacts c USING (merchant_id, customer_id)
            WHERE n.status = 'pending' AND n.not_before <= $1
            ORDER BY n.not_before
            LIMIT $2
            FOR UPDATE OF n SKIP LOCKED
            """,
            now,
            limit,
        )
        merchants = await settings_of(conn, sorted({r["merchant_id"] for r in rows})) if rows else {}
        window = timedelta(days=max((m.budget_days for m in merchants.values()), default=7))
        recent = await _recent_marketing(conn, [dict(r) for r in rows], now, window)
        to_send, updates, suppressed = [], [], []
        for row in map(dict, rows):
            if row["category"] == "merchant":  # to the merchant's team: the address travels with the request
                _address_merchant(row)
            row["recent_marketing"] = recent.setdefault((row["merchant_id"], row["customer_id"]), [])
            row["settings"] = merchants[row["merchant_id"]]  # the sender composes with the settings it decided with
            verdict, reason, until = decide(row, row["settings"])
            if verdict == "send":
                if row["category"] == "marketing":  # counts against the budget of the rest of this batch too
                    row["recent_marketing"].append(now)
                to_send.append(row)
                updates.append((row["notification_id"], "sending", None, now, now))
            elif verdict == "wait":
                updates.append((row["notification_id"], "pending", reason, now + retry_wait, None))
            elif verdict == "defer":
                updates.append((row["notification_id"], "pending", reason, until, None))
            else:
                updates.append((row["notification_id"], "suppressed", reason, now, None))
                suppressed.append(outcome_event("notification.suppressed", row, now, reason=reason))
        await conn.executemany(
            "UPDATE notifications SET status = $2, status_reason = $3, not_before = $4, claimed_at = $5, "
            "attempts = attempts + (CASE WHEN $2 = 'sending' THEN 1 ELSE 0 END) WHERE notification_id = $1",
            updates,
        )
        if contract is not None:
            await write_outbox(conn, contract, suppressed)
        return to_send


def _address_merchant(row: dict[str, Any]) -> None:
    context = row["context"]
    row.update(
        email=context.get("recipient_email"),
        locale=context.get("recipient_locale") or "de",
        first_name=None,
        last_name=None,
        salutation=None,
        time_zone=None,
        bounced=False,
        form_of_address=None,
        country=None,
        known=True,
    )


async def _recent_marketing(
    conn: asyncpg.Connection, rows: list[dict[str, Any]], now: datetime, window: timedelta
) -> dict[tuple[str, str], list[datetime]]:
    """When each customer of a marketing row last got marketing mail, within the budget window."""
    keys = sorted({(r["merchant_id"], r["customer_id"]) for r in rows if r["category"] == "marketing"})
    if not keys:
        return {}
    found = await conn.fetch(
        "SELECT n.merchant_id, n.customer_id, array_agg(n.sent_at ORDER BY n.sent_at) AS sent "
        "FROM notifications n JOIN unnest($1::text[], $2::text[]) AS k(m, c) "
        "ON n.merchant_id = k.m AND n.customer_id = k.c "
        "WHERE n.category = 'marketing' AND n.status = 'sent' AND n.sent_at > $3 GROUP BY 1, 2",
        [m for m, _ in keys],
        [c for _, c in keys],
        now - window,
    )
    return {(r["merchant_id"], r["customer_id"]): list(r["sent"]) for r in found}


def contact_of(row: dict[str, Any]) -> Contact | None:
    if not row["known"]:
        return None
    return Contact(
        email=row["email"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        salutation=row["salutation"],
        locale=row["locale"],
        marketing_consent=row["marketing_consent"],
        time_zone=row.get("time_zone"),
        bounced=bool(row.get("bounced")),
    )


def outcome_event(event_type: str, row: dict[str, Any], at: datetime, **facts: Any) -> Envelope:
    """notification.sent / suppressed / failed for reporting; the id is derived, so a replay emits it once."""
    data = {
        "notification_id": str(row["notification_id"]),
        "customer_id": row["customer_id"],
        "template": row["template"],
    }
    if event_type == "notification.sent":
        data |= {"channel": "email", "locale": facts["locale"], "sent_at": at.isoformat()}
    elif event_type == "notification.suppressed":
        data |= {"reason": (facts["reason"] or "suppressed")[:500], "decided_at": at.isoformat()}
    else:
        data |= {"reason": (facts["reason"] or "failed")[:500], "failed_at": at.isoformat()}
    cause = derived_event_id(row["notification_id"], event_type)
    return new_envelope(event_type, row["merchant_id"], data, occurred_at=at, event_id=cause)


async def set_status(
    pool: asyncpg.Pool,
    notification_id: object,
    status: str,
    *,
    reason: str | None = None,
    message_id: str | None = None,
    sent_at: datetime | None = None,
    not_before: datetime | None = None,
    contract: Contract | None = None,
    announce: Envelope | None = None,
) -> None:
    """Record an outcome; `announce` (notification.sent/failed) goes to the outbox in the same transaction."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE notifications SET status = $2, status_reason = $3, message_id = coalesce($4, message_id), "
            "sent_at = coalesce($5, sent_at), not_before = coalesce($6, not_before) WHERE notification_id = $1",
            notification_id,
            status,
            reason,
            message_id,
            sent_at,
            not_before,
        )
        if announce is not None and contract is not None:
            await write_outbox(conn, contract, [announce])


async def abandon_interrupted_sends(
    pool: asyncpg.Pool, claimed_before: datetime, contract: Contract | None = None, now: datetime | None = None
) -> int:
    """A row left in `sending` may or may not have reached the SMTP server: never resend it; announce it failed."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "UPDATE notifications SET status = 'failed', status_reason = 'interrupted during SMTP send; "
            "not retried to avoid a duplicate mail' WHERE status = 'sending' AND claimed_at < $1 "
            "RETURNING notification_id, merchant_id, customer_id, template, status_reason",
            claimed_before,
        )
        if contract is not None and rows:
            at = now or claimed_before
            failed = [outcome_event("notification.failed", dict(r), at, reason=r["status_reason"]) for r in rows]
            await write_outbox(conn, contract, failed)
    return len(rows)


async def withdraw_marketing_consent(pool: asyncpg.Pool, merchant_id: str, customer_id: str, at: datetime) -> None:
    """An unsubscribe click: effective for every marketing mail decided from now on (consent is read at sending)."""
    await pool.execute(
        """
        INSERT INTO contacts AS c (merchant_id, customer_id, marketing_consent, marketing_consent_at, consent_source)
        VALUES ($1, $2, false, $3, 'unsubscribe_link')
        ON CONFLICT (merchant_id, customer_id) DO UPDATE SET marketing_consent = false, marketing_consent_at = $3,
            consent_source = 'unsubscribe_link', opt_in_requested_at = NULL
        """,
        merchant_id,
        customer_id,
        at,
    )


async def cancel_pending(conn: asyncpg.Connection, cancels: list[Cancel], now: datetime) -> list[Envelope]:
    """Cancel-on-event: pending notifications the events made pointless, in one statement per batch (every
    order asks to cancel its customer's cart reminders); returns their suppressed events."""
    if not cancels:
        return []
    rows = await conn.fetch(
        """
        UPDATE notifications n SET status = 'suppressed', status_reason = k.why
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
             AS k(m, c, t, trigger, keep, why)
        WHERE n.merchant_id = k.m AND n.customer_id = k.c AND n.template = k.t AND n.status = 'pending'
          AND (k.trigger IS NULL OR n.trigger_id = k.trigger) AND n.trigger_id IS DISTINCT FROM k.keep
        RETURNING n.notification_id, n.merchant_id, n.customer_id, n.template, k.why
        """,
        [c.merchant_id for c in cancels],
        [c.customer_id for c in cancels],
        [c.template for c in cancels],
        [c.trigger_id for c in cancels],
        [c.keep for c in cancels],
        [c.why for c in cancels],
    )
    return [outcome_event("notification.suppressed", dict(r), now, reason=r["why"]) for r in rows]


async def mark_bounced(pool: asyncpg.Pool, merchant_id: str, customer_id: str, reason: str, at: datetime) -> None:
    """A hard bounce: no more mail to this address until the shop sends a new one."""
    await pool.execute(
        "UPDATE contacts SET bounced_at = $3, bounce_reason = $4 WHERE merchant_id = $1 AND customer_id = $2",
        merchant_id,
        customer_id,
        at,
        reason[:500],
    )


async def save_order_facts(conn: asyncpg.Connection, orders: list[OrderFacts]) -> None:
    """Orders of customers erased here are not remembered (an order placed before the erasure, applied after it)."""
    erased = await erased_customers(conn, {(o.merchant_id, o.customer_id) for o in orders})
    kept = [o for o in orders if (o.merchant_id, o.customer_id) not in erased]
    await conn.executemany(
        "INSERT INTO order_facts (merchant_id, order_id, customer_id, order_number, categories, placed_at) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        [(o.merchant_id, o.order_id, o.customer_id, o.order_number, list(o.categories), o.placed_at) for o in kept],
    )


async def order_facts_of(conn: asyncpg.Connection, keys: set[tuple[str, str]]) -> dict[tuple[str, str], OrderFacts]:
    if not keys:
        return {}
    rows = await conn.fetch(
        "SELECT o.* FROM order_facts o JOIN unnest($1::text[], $2::text[]) AS k(m, o) "
        "ON o.merchant_id = k.m AND o.order_id = k.o",
        [m for m, _ in keys],
        [o for _, o in keys],
    )
    return {
        (r["merchant_id"], r["order_id"]): OrderFacts(
            r["merchant_id"], r["order_id"], r["customer_id"], r["order_number"], r["placed_at"], tuple(r["categories"])
        )
        for r in rows
    }


async def customers_with_orders(conn: asyncpg.Connection, keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
    if not keys:
        return set()
    rows = await conn.fetch(
        "SELECT DISTINCT o.merchant_id, o.customer_id FROM order_facts o "
        "JOIN unnest($1::text[], $2::text[]) AS k(m, c) ON o.merchant_id = k.m AND o.customer_id = k.c",
        [m for m, _ in keys],
        [c for _, c in keys],
    )
    return {(r["merchant_id"], r["customer_id"]) for r in rows}


async def settings_of(
    pool: asyncpg.Pool | asyncpg.Connection, merchant_ids: list[str]
) -> dict[str, NotificationSettings]:
    rows = await pool.fetch(
        "SELECT merchant_id, config FROM settings WHERE merchant_id = ANY($1::text[])", merchant_ids
    )
    found = {r["merchant_id"]: NotificationSettings.model_validate(r["config"]) for r in rows}
    return {m: found.get(m, NotificationSettings()) for m in merchant_ids}


async def save_settings(pool: asyncpg.Pool, merchant_id: str, settings: NotificationSettings) -> None:
    await pool.execute(
        "INSERT INTO settings (merchant_id, config) VALUES ($1, $2) "
        "ON CONFLICT (merchant_id) DO UPDATE SET config = EXCLUDED.config, updated_at = now()",
        merchant_id,
        settings.model_dump(mode="json"),
    )


async def erase_customers(conn: asyncpg.Connection, events: list[Envelope]) -> None:
    """GDPR Art. 17: the contact goes, and so does what its mails said; the notification rows stay as
    pseudonymous counts (template, status, times) so reports still add up. Pending ones are suppressed."""
    for event in events:
        merchant_id, customer_id = event.merchant_id, event.data["customer_id"]
        await conn.execute("DELETE FROM contacts WHERE merchant_id = $1 AND customer_id = $2", merchant_id, customer_id)
        await conn.execute(
            "DELETE FROM order_facts WHERE merchant_id = $1 AND customer_id = $2", merchant_id, customer_id
        )
        await conn.execute(
            "UPDATE notifications SET context = '{}'::jsonb, message_id = NULL, "
            "status = CASE WHEN status = 'pending' THEN 'suppressed' ELSE status END, "
            "status_reason = CASE WHEN status = 'pending' THEN 'erased on request' ELSE status_reason END "
            "WHERE merchant_id = $1 AND customer_id = $2",
            merchant_id,
            customer_id,
        )
    await record_erasures(conn, events)


async def save_goodwill(conn: asyncpg.Connection, grants: list[tuple[str, str, int, datetime]]) -> None:
    """(merchant, shipment, points, at) from loyalty's goodwill for a late parcel."""
    await conn.executemany(
        "INSERT INTO goodwill (merchant_id, shipment_id, points, granted_at) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT DO NOTHING",
        grants,
    )


async def goodwill_of(pool: asyncpg.Pool, keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    if not keys:
        return {}
    rows = await pool.fetch(
        "SELECT g.merchant_id, g.shipment_id, g.points FROM goodwill g "
        "JOIN unnest($1::text[], $2::text[]) AS k(m, s) ON g.merchant_id = k.m AND g.shipment_id = k.s",
        [m for m, _ in keys],
        [s for _, s in keys],
    )
    return {(r["merchant_id"], r["shipment_id"]): r["points"] for r in rows}
