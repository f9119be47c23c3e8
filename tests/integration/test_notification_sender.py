"""The sender on real PostgreSQL and a real SMTP server: sent once, never twice, reasons recorded."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.common.contract import load_contract
from services.common.envelope import Envelope, new_envelope
from services.common.migrations import apply_migrations, migrations_for
from services.common.service_app import Runtime
from services.notifications.adapters.rendering import Renderer
from services.notifications.adapters.smtp import SmtpConfig, SmtpSender
from services.notifications.adapters.store import abandon_interrupted_sends, insert_requests, upsert_contacts
from services.notifications.adapters.unsubscribe import UnsubscribeLinks
from services.notifications.bootstrap import SPEC as NOTIFICATIONS
from services.notifications.domain.messages import request_for
from services.notifications.entrypoints.sender import NotificationSender
from services.notifications.metrics import NotificationMetrics
from services.platform.infra import free_port
from services.platform.smtp_sink import read_mails, start_sink

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def smtp(tmp_path: Path):
    port = free_port()
    controller = start_sink(tmp_path / "mail", port=port)
    yield port, tmp_path / "mail"
    controller.stop()


@pytest.fixture
async def sender(schema_pool, smtp, settings, kernel_metrics):
    schema, pool = schema_pool
    await apply_migrations(pool, schema, migrations_for(NOTIFICATIONS.migrations))
    runtime = Runtime(
        service="notifications",
        settings=settings,
        contract=load_contract(),
        registry=None,  # type: ignore[arg-type]
        metrics=kernel_metrics,
        pool=pool,
    )
    from prometheus_client import CollectorRegistry

    metrics = NotificationMetrics.create(CollectorRegistry())
    return NotificationSender(
        runtime,
        renderer=Renderer(),
        smtp=SmtpSender(SmtpConfig("127.0.0.1", smtp[0])),
        metrics=metrics,
        unsubscribe=UnsubscribeLinks("test-secret", "https://shop.example"),
    )


def points_event(merchant_id: str, customer_id: str):
    """What loyalty asks for when it credits points (services/loyalty/domain/bonuses.py)."""
    return new_envelope(
        "notification.requested",
        merchant_id,
        {
            "customer_id": customer_id,
            "message": "points_earned",
            "category": "transactional",
            "trigger_id": f"loyalty:points_earned:{uuid.uuid4()}",
            "order_id": "10042",
            "variables": {"points": 46, "balance": 120, "reason": "purchase"},
        },
        occurred_at=NOW,
    )


def customer_event(merchant_id: str, customer_id: str, **data):
    return new_envelope(
        "customer.created",
        merchant_id,
        {
            "customer_id": customer_id,
            "email": "anna.schmidt@example.de",
            "first_name": "Anna",
            "last_name": "Schmidt",
            "locale": "de-DE",
            **data,
        },
        occurred_at=NOW,
    )


async def test_sends_once_in_the_customers_language(sender, smtp, merchant_id: str) -> None:
    pool = sender.runtime.pool
    request = request_for(points_event(merchant_id, "c1"), NOW)
    async with pool.acquire() as conn:
        await upsert_contacts(conn, [customer_event(merchant_id, "c1")])
        await insert_requests(conn, [request, request])  # a redelivered trigger

    assert await sender.send_due(NOW) == 1
    assert await sender.send_due(NOW + timedelta(seconds=1)) == 0
    mails = read_mails(smtp[1])
    assert len(mails) == 1
    assert mails[0]["Subject"] == "Du hast 46 Punkte gesammelt" and "anna.schmidt@example.de" in mails[0]["To"]
    row = await pool.fetchrow("SELECT status, message_id FROM notifications")
    assert row["status"] == "sent" and row["message_id"] == mails[0]["Message-ID"]
    (sent,) = [Envelope.from_bytes(r["payload"]) for r in await pool.fetch("SELECT payload FROM outbox")]
    assert sent.type == "notification.sent" and sent.data["template"] == "points_earned" and sent.data["locale"] == "de"


async def test_waits_for_a_late_contact_then_sends(sender, smtp, merchant_id: str) -> None:
    pool = sender.runtime.pool
    async with pool.acquire() as conn:
        await insert_requests(conn, [request_for(points_event(merchant_id, "c2"), NOW)])
    assert await sender.send_due(NOW) == 0  # contact unknown: wait, not drop
    async with pool.acquire() as conn:
        await upsert_contacts(conn, [customer_event(merchant_id, "c2", locale="en")])
    assert await sender.send_due(NOW + timedelta(seconds=5)) == 1
    assert read_mails(smtp[1])[0]["Subject"] == "You earned 46 points"


async def test_suppresses_with_a_reason_when_the_contact_never_comes(sender, merchant_id: str) -> None:
    pool = sender.runtime.pool
    async with pool.acquire() as conn:
        await insert_requests(conn, [request_for(points_event(merchant_id, "c3"), NOW)])
    await sender.send_due(NOW + timedelta(hours=2))
    row = await pool.fetchrow("SELECT status, status_reason FROM notifications")
    assert row["status"] == "suppressed" and "no contact" in row["status_reason"]
    (event,) = [Envelope.from_bytes(r["payload"]) for r in await pool.fetch("SELECT payload FROM outbox")]
    assert event.type == "notification.suppressed" and "no contact" in event.data["reason"]


async def test_a_backfilled_trigger_never_mails_and_marketing_needs_consent(sender, smtp, merchant_id: str) -> None:
    pool = sender.runtime.pool
    old = points_event(merchant_id, "c6").model_copy(update={"occurred_at": NOW - timedelta(days=5)})
    voucher = new_envelope(
        "notification.requested",
        merchant_id,
        {"customer_id": "c6", "message": "tenure_voucher", "category": "marketing", "trigger_id": "t:c6:2y",
         "variables": {"years": 2, "code": "TEN-2", "percent_off": 10, "code_expires_at": "2026-12-01"}},
        occurred_at=NOW,
    )  # fmt: skip
    async with pool.acquire() as conn:
        await upsert_contacts(conn, [customer_event(merchant_id, "c6")])
        await insert_requests(conn, [request_for(old, NOW), request_for(voucher, NOW)])
    assert await sender.send_due(NOW) == 0
    reasons = {
        r["template"]: r["status_reason"] for r in await pool.fetch("SELECT template, status_reason FROM notifications")
    }
    assert "stale" in reasons["points_earned"] and reasons["tenure_voucher"] == "no marketing consent"
    assert read_mails(smtp[1]) == []


async def test_an_interrupted_send_is_never_repeated(sender, smtp, merchant_id: str) -> None:
    pool = sender.runtime.pool
    async with pool.acquire() as conn:
        await upsert_contacts(conn, [customer_event(merchant_id, "c4")])
        await insert_requests(conn, [request_for(points_event(merchant_id, "c4"), NOW)])
    # A worker claimed it and died during the SMTP call:
    await pool.execute("UPDATE notifications SET status = 'sending', claimed_at = $1", NOW)
    assert await abandon_interrupted_sends(pool, NOW + timedelta(minutes=5)) == 1
    assert await sender.send_due(NOW + timedelta(minutes=6)) == 0
    assert read_mails(smtp[1]) == []
    assert await pool.fetchval("SELECT status FROM notifications") == "failed"


async def test_an_unreachable_smtp_server_is_retried_later(sender, smtp, merchant_id: str) -> None:
    pool = sender.runtime.pool
    working = sender.smtp
    sender.smtp = SmtpSender(SmtpConfig("127.0.0.1", free_port(), timeout_s=1))  # nothing listens there
    async with pool.acquire() as conn:
        await upsert_contacts(conn, [customer_event(merchant_id, "c5")])
        await insert_requests(conn, [request_for(points_event(merchant_id, "c5"), NOW)])
    assert await sender.send_due(NOW) == 1
    row = await pool.fetchrow("SELECT status, status_reason, not_before FROM notifications")
    assert row["status"] == "pending" and "Connect" in row["status_reason"] and row["not_before"] > NOW
    sender.smtp = working
    assert await sender.send_due(NOW + timedelta(seconds=1)) == 0  # not due yet
    assert await sender.send_due(row["not_before"]) == 1
    assert len(read_mails(smtp[1])) == 1


def marketing_opt_in(merchant_id: str, customer_id: str):
    """The customer confirmed the newsletter (double opt-in) the day before."""
    return new_envelope(
        "consent.changed",
        merchant_id,
        {"customer_id": customer_id, "channel": "email", "purpose": "marketing", "granted": True,
         "source": "double_opt_in"},
        occurred_at=NOW - timedelta(days=1),
    )  # fmt: skip


def voucher_request(merchant_id: str, customer_id: str, years: int):
    return new_envelope(
        "notification.requested",
        merchant_id,
        {
            "customer_id": customer_id,
            "message": "tenure_voucher",
            "category": "marketing",
            "trigger_id": f"loyalty:tenure:{customer_id}:{years}",
            "variables": {"years": years, "code": f"TEN-{years}", "percent_off": 10, "code_expires_at": "2026-12-01"},
        },
        occurred_at=NOW,
    )


async def test_marketing_mail_carries_one_click_unsubscribe_and_the_click_stops_the_next(
    sender, smtp, merchant_id: str
) -> None:
    import httpx
    from fastapi import FastAPI

    from services.notifications.entrypoints.api import router
    from services.notifications.entrypoints.consumers import apply_consent

    pool = sender.runtime.pool
    opt_in = marketing_opt_in(merchant_id, "c7")
    async with pool.acquire() as conn:
        await upsert_contacts(conn, [customer_event(merchant_id, "c7")])
        await apply_consent(conn, [opt_in])
        await insert_requests(conn, [request_for(voucher_request(merchant_id, "c7", 2), NOW)])
    assert await sender.send_due(NOW) == 1
    (mail,) = read_mails(smtp[1])
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = mail["List-Unsubscribe"].strip("<>")
    assert link.startswith("https://shop.example/u/") and merchant_id not in link

    app = FastAPI()
    app.include_router(router(sender.runtime, sender.unsubscribe))
    token = link.rsplit("/", 1)[1]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n") as http:
        page = await http.get(f"/internal/v1/unsubscribe/{token}")  # a link scanner: asks, changes nothing
        assert page.status_code == 200 and 'method="post"' in page.text
        assert await pool.fetchval("SELECT marketing_consent FROM contacts WHERE customer_id = 'c7'") is True
        forged = await http.post(f"/internal/v1/unsubscribe/{token[:-2]}xx", data={"List-Unsubscribe": "One-Click"})
        assert forged.status_code == 404
        click = await http.post(f"/internal/v1/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
        assert click.status_code == 200 and "abgemeldet" in click.text
    async with pool.acquire() as conn:
        await insert_requests(conn, [request_for(voucher_request(merchant_id, "c7", 3), NOW)])
    assert await sender.send_due(NOW + timedelta(minutes=1)) == 0
    assert len(read_mails(smtp[1])) == 1
    reason = await pool.fetchval("SELECT status_reason FROM notifications WHERE template = 'tenure_voucher' "
                                 "AND status = 'suppressed'")  # fmt: skip
    assert reason == "no marketing consent"


async def test_the_order_cancels_the_cart_reminder_and_is_confirmed_at_once(sender, smtp, merchant_id: str) -> None:
    from services.notifications.entrypoints.consumers import handle_shop_events
    from tests.tracking_events import placed

    pool = sender.runtime.pool
    cart = new_envelope(
        "cart.updated",
        merchant_id,
        {"cart_id": "cart-9", "customer_id": "c9", "currency": "EUR", "total_minor": 4990,
         "recovery_url": "https://shop.example/cart/cart-9",
         "lines": [{"line_id": "L1", "sku": "sku-1", "product_id": "p-1", "name": "Schuh", "category": "shoes",
                    "quantity": 1, "unit_price_minor": 4990, "total_minor": 4990}]},
        occurred_at=NOW,
    )  # fmt: skip
    order = placed("o9", NOW + timedelta(minutes=30), customer="c9").model_copy(update={"merchant_id": merchant_id})
    async with pool.acquire() as conn:
        await upsert_contacts(conn, [customer_event(merchant_id, "c9")])
        assert await handle_shop_events(conn, [cart]) == []
        again = cart.model_copy(update={"occurred_at": NOW + timedelta(minutes=10)})
        assert await handle_shop_events(conn, [again]) == []  # the cart changed: the reminder moves
        assert await pool.fetchval("SELECT not_before FROM notifications") == NOW + timedelta(minutes=70)
        cancelled = await handle_shop_events(conn, [order])
    assert [e.type for e in cancelled] == ["notification.suppressed"]
    assert cancelled[0].data["reason"] == "cancelled: the order arrived"
    assert await sender.send_due(NOW + timedelta(hours=2)) == 1  # the order confirmation only
    (mail,) = read_mails(smtp[1])
    assert mail["Subject"] == "Danke für deine Bestellung O9"


async def test_the_merchants_settings_sign_and_address_the_mail(sender, smtp, merchant_id: str) -> None:
    import httpx
    from fastapi import FastAPI

    from services.common.http import install_problem_handlers
    from services.notifications.entrypoints.api import router

    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router(sender.runtime, sender.unsubscribe))
    url = f"/internal/v1/merchants/{merchant_id}/notifications/settings"
    settings = {
        "sender_name": "Schuhhaus Müller",
        "sender_email": "service@schuhhaus.example",
        "reply_to": "hilfe@schuhhaus.example",
        "form_of_address": "Sie",
        "legal_footer": "Schuhhaus Müller GmbH, Hauptstr. 1, 44135 Dortmund, HRB 12345",
    }
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n") as http:
        bad = await http.put(url, json={**settings, "form_of_address": "Ihr", "merchant_id": "x"})
        assert bad.status_code == 422
        assert {e["path"] for e in bad.json()["errors"]} == {"form_of_address", "merchant_id"}
        assert (await http.put(url, json=settings)).status_code == 200
        assert (await http.get(url)).json()["form_of_address"] == "Sie"
    pool = sender.runtime.pool
    async with pool.acquire() as conn:
        await upsert_contacts(conn, [customer_event(merchant_id, "c10", salutation="frau")])
        await insert_requests(conn, [request_for(points_event(merchant_id, "c10"), NOW)])
    assert await sender.send_due(NOW) == 1
    (mail,) = read_mails(smtp[1])
    assert mail["Subject"] == "Sie haben 46 Punkte gesammelt"
    assert mail["From"] == "Schuhhaus Müller <service@schuhhaus.example>"
    assert mail["Reply-To"] == "hilfe@schuhhaus.example"
    text = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith("Guten Tag Frau Schmidt,") and "Freundliche Grüße\nSchuhhaus Müller\n" in text
    assert text.endswith("--\nSchuhhaus Müller GmbH, Hauptstr. 1, 44135 Dortmund, HRB 12345\n")


async def test_erasure_removes_the_contact_and_what_its_mails_said(sender, smtp, merchant_id: str) -> None:
    from services.notifications.entrypoints.consumers import handle_contacts

    pool = sender.runtime.pool
    erase = new_envelope(
        "customer.erasure_requested", merchant_id, {"customer_id": "c11", "request_id": "er-1"}, occurred_at=NOW
    )
    async with pool.acquire() as conn:
        await handle_contacts(conn, [customer_event(merchant_id, "c11")])
        await insert_requests(conn, [request_for(points_event(merchant_id, "c11"), NOW)])
    assert await sender.send_due(NOW) == 1
    async with pool.acquire() as conn:
        await insert_requests(conn, [request_for(points_event(merchant_id, "c11"), NOW)])  # still pending
        await handle_contacts(conn, [erase])
    assert await pool.fetchval("SELECT count(*) FROM contacts WHERE customer_id = 'c11'") == 0
    rows = await pool.fetch("SELECT status, status_reason, context, message_id FROM notifications ORDER BY status")
    assert [(r["status"], r["context"], r["message_id"]) for r in rows] == [
        ("sent", {}, None),
        ("suppressed", {}, None),
    ]
    assert rows[1]["status_reason"] == "erased on request"
    assert await sender.send_due(NOW + timedelta(minutes=1)) == 0


async def test_a_fourth_marketing_mail_in_a_week_waits_for_the_next_free_slot(sender, smtp, merchant_id: str) -> None:
    from services.notifications.entrypoints.consumers import apply_consent

    pool = sender.runtime.pool
    opt_in = marketing_opt_in(merchant_id, "c12")
    async with pool.acquire() as conn:
        await upsert_contacts(conn, [customer_event(merchant_id, "c12")])
        await apply_consent(conn, [opt_in])
        await insert_requests(conn, [request_for(voucher_request(merchant_id, "c12", y), NOW) for y in (1, 2, 3, 4)])
        await insert_requests(conn, [request_for(points_event(merchant_id, "c12"), NOW)])  # transactional
    assert await sender.send_due(NOW) == 4  # three marketing mails and the transactional one
    row = await pool.fetchrow("SELECT status, status_reason, not_before FROM notifications WHERE status = 'pending'")
    assert "frequency budget" in row["status_reason"] and row["not_before"] == NOW + timedelta(days=7)
    assert len(read_mails(smtp[1])) == 4


async def test_review_flows_reply_to_the_customer_alert_the_team_and_respect_switched_off_messages(
    sender, smtp, merchant_id: str
) -> None:
    """Shop events through the flows consumer, the merchant's settings from PostgreSQL, real SMTP: a 1-star
    review gets the customer a reply and the team an alert in the merchant's frame; a message the merchant
    switched off after it was scheduled is suppressed at send time with the reason."""
    from services.notifications.adapters.store import save_settings
    from services.notifications.domain.settings import NotificationSettings
    from services.notifications.entrypoints.consumers import handle_shop_events
    from tests.tracking_events import placed

    pool = sender.runtime.pool
    settings = NotificationSettings(
        sender_name="Schuhhaus Müller",
        brand_colour="#7a1f3d",
        brand_logo_url="https://cdn.schuhhaus.example/logo.png",
        review_alert_email="team@schuhhaus.example",
        review_alert_locale="en",
    )
    await save_settings(pool, merchant_id, settings)
    review = new_envelope(
        "review.submitted",
        merchant_id,
        {"review_id": "rv-1", "customer_id": "c20", "order_id": "o20", "rating": 1, "title": "Kaputt angekommen",
         "body": "Die Sohle war eingerissen.", "has_photo": False, "locale": "de"},
        occurred_at=NOW,
    )  # fmt: skip
    order = placed("o21", NOW, customer="c20").model_copy(update={"merchant_id": merchant_id})
    async with pool.acquire() as conn:
        await upsert_contacts(conn, [customer_event(merchant_id, "c20")])
        await handle_shop_events(conn, [review, order])
        await handle_shop_events(conn, [review])  # redelivered: nothing new
    assert await sender.send_due(NOW) == 3  # reply, alert, order confirmation; the rest is due later
    mails = {m["To"]: m for m in read_mails(smtp[1]) if m["Subject"] != "Danke für deine Bestellung O21"}
    reply = mails["Anna Schmidt <anna.schmidt@example.de>"]
    assert reply["Subject"] == "Das tut uns leid – wir möchten es wiedergutmachen"
    assert "„Kaputt angekommen“" in reply.get_body(("plain",)).get_content()
    html = reply.get_body(("html",)).get_content()
    assert "#7a1f3d" in html and 'src="https://cdn.schuhhaus.example/logo.png"' in html
    alert = mails["team@schuhhaus.example"]
    assert alert["Subject"] == "Negative review: 1 of 5 stars on order o20"
    assert "Die Sohle war eingerissen." in alert.get_body(("plain",)).get_content()
    assert alert["List-Unsubscribe"] is None

    # Switched off after scheduling: decided at send time, with the reason, and no SMTP call.
    assert await sender.send_due(NOW + timedelta(hours=1)) == 0  # the first-order thank-you needs consent
    await save_settings(pool, merchant_id, settings.model_copy(update={"disabled_messages": frozenset({"win_back"})}))
    assert await sender.send_due(NOW + timedelta(days=91)) == 0
    rows = await pool.fetch("SELECT template, status, status_reason FROM notifications ORDER BY template")
    by_template = {r["template"]: r for r in rows}
    assert by_template["win_back"]["status"] == "suppressed"
    assert by_template["win_back"]["status_reason"] == "message switched off by the merchant"
    assert by_template["first_order_thank_you"]["status_reason"] == "no marketing consent"
    assert len(read_mails(smtp[1])) == 3


class PickyServer:
    """A real SMTP server that refuses some recipients like a provider would, and counts connections."""

    def __init__(self, folder: Path) -> None:
        from services.platform.smtp_sink import MaildirHandler

        self.sink = MaildirHandler(folder)
        self.connections = 0
        self.busy_once: set[str] = set()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("gone@"):
            return "550 5.1.1 No such user"
        if address.startswith("busy@") and address not in self.busy_once:
            self.busy_once.add(address)
            return "451 4.2.1 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        return await self.sink.handle_DATA(server, session, envelope)


async def test_connections_are_reused_4xx_is_retried_and_a_hard_bounce_suppresses_the_address(
    sender, tmp_path: Path, merchant_id: str
) -> None:
    from aiosmtpd.controller import Controller

    picky = PickyServer(tmp_path / "picky")
    port = free_port()
    controller = Controller(picky, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        sender.smtp = SmtpSender(SmtpConfig("127.0.0.1", port, connections=2))
        pool = sender.runtime.pool
        async with pool.acquire() as conn:
            await upsert_contacts(
                conn,
                [customer_event(merchant_id, f"c{n}", email=f"ok{n}@example.de") for n in range(8)]
                + [customer_event(merchant_id, "gone", email="gone@example.de"),
                   customer_event(merchant_id, "busy", email="busy@example.de")],
            )  # fmt: skip
            await insert_requests(
                conn,
                [
                    request_for(points_event(merchant_id, c), NOW)
                    for c in [*(f"c{n}" for n in range(8)), "gone", "busy"]
                ],
            )
        assert await sender.send_due(NOW) == 10  # all claimed and tried
        assert len(read_mails(tmp_path / "picky")) == 8
        assert picky.connections <= 2  # ten mails over the two pooled connections, even after two refusals

        rows = {
            r["customer_id"]: r
            for r in await pool.fetch("SELECT customer_id, status, status_reason, not_before FROM notifications")
        }
        assert rows["busy"]["status"] == "pending" and "451" in rows["busy"]["status_reason"]
        assert rows["gone"]["status"] == "failed" and "550" in rows["gone"]["status_reason"]
        assert await sender.send_due(rows["busy"]["not_before"]) == 1  # the second try is taken
        assert len(read_mails(tmp_path / "picky")) == 9

        async with pool.acquire() as conn:  # the bounced address gets nothing more...
            await insert_requests(conn, [request_for(points_event(merchant_id, "gone"), NOW)])
        assert await sender.send_due(NOW + timedelta(hours=1)) == 0
        reason = await pool.fetchval(
            "SELECT status_reason FROM notifications WHERE customer_id = 'gone' AND status = 'suppressed'"
        )
        assert reason == "the address bounced (hard bounce)"
        async with pool.acquire() as conn:  # ...until the shop has a new one
            renamed = customer_event(merchant_id, "gone", email="anna.new@example.de")
            await upsert_contacts(conn, [renamed.model_copy(update={"occurred_at": NOW + timedelta(hours=2)})])
            await insert_requests(conn, [request_for(points_event(merchant_id, "gone"), NOW + timedelta(hours=2))])
        assert await sender.send_due(NOW + timedelta(hours=2)) == 1
        assert read_mails(tmp_path / "picky")[-1]["To"] == "Anna Schmidt <anna.new@example.de>"
    finally:
        await sender.smtp.close()
        controller.stop()


async def test_hostile_names_render_inert_and_a_broken_mail_fails_alone(sender, smtp, merchant_id: str) -> None:
    pool = sender.runtime.pool
    hostile = [
        customer_event(merchant_id, "x1", first_name="<script>alert(1)</script>", email="x1@example.de"),
        customer_event(merchant_id, "x2", first_name="{{7*7}}", email="x2@example.de"),
        customer_event(merchant_id, "x3", first_name="Eve\r\nBcc: all@example.com", email="x3@example.de"),
    ]
    broken = points_event(merchant_id, "x2")
    broken = broken.model_copy(update={"data": {**broken.data, "variables": {"reason": "purchase"}}})  # no points
    async with pool.acquire() as conn:
        await upsert_contacts(conn, hostile)
        await insert_requests(conn, [request_for(points_event(merchant_id, c), NOW) for c in ("x1", "x2", "x3")])
        await insert_requests(conn, [request_for(broken, NOW)])
    assert await sender.send_due(NOW) == 4
    mails = {m["X-Retention-Notification-Id"]: m for m in read_mails(smtp[1])}
    assert len(mails) == 3  # the broken one failed alone; the others went
    texts = {str(m["To"]): m.get_body(("plain",)).get_content() for m in mails.values()}
    htmls = {str(m["To"]): m.get_body(("html",)).get_content() for m in mails.values()}
    script = next(k for k in htmls if "x1@" in k)
    assert "<script>" not in htmls[script] and "&lt;script&gt;" in htmls[script]
    assert texts[script].startswith("Hallo <script>alert(1)</script>,")  # plain text shows it as typed
    braces = next(k for k in texts if "x2@" in k)
    assert texts[braces].startswith("Hallo {{7*7}},") and "49" not in texts[braces].split("\n")[0]
    eve = next(m for m in mails.values() if "x3@" in str(m["To"]))
    assert eve["Bcc"] is None and str(eve["To"]) == '"Eve Bcc: all@example.com Schmidt" <x3@example.de>'
    failed = await pool.fetchrow("SELECT status, status_reason FROM notifications WHERE status = 'failed'")
    assert failed["status_reason"].startswith("could not compose: UndefinedError")


async def test_double_opt_in_consent_starts_with_the_click_in_the_confirmation_mail(
    sender, smtp, merchant_id: str
) -> None:
    import re

    import httpx
    from fastapi import FastAPI

    from services.common.http import install_problem_handlers
    from services.notifications.adapters.unsubscribe import OptInLinks
    from services.notifications.entrypoints.api import router
    from services.notifications.entrypoints.consumers import apply_consent

    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router(sender.runtime, sender.unsubscribe, OptInLinks("test-secret", "https://shop.example")))
    pool = sender.runtime.pool
    signup = new_envelope(
        "consent.changed",
        merchant_id,
        {"customer_id": "d1", "channel": "email", "purpose": "marketing", "granted": True,
         "source": "newsletter_signup"},
        occurred_at=NOW,
    )  # fmt: skip
    async with pool.acquire() as conn:
        await upsert_contacts(conn, [customer_event(merchant_id, "d1")])
        await apply_consent(conn, [signup])
        await apply_consent(conn, [signup])  # redelivered: one confirmation mail
        await insert_requests(conn, [request_for(voucher_request(merchant_id, "d1", 1), NOW)])
    assert await sender.send_due(NOW) == 1  # the confirmation goes; the voucher waits for consent it lacks
    (confirmation,) = read_mails(smtp[1])
    assert confirmation["Subject"] == "Bitte bestätige deine Anmeldung"
    assert confirmation["List-Unsubscribe"] is None
    link = re.search(r"https://shop\.example/c/(\S+)", confirmation.get_body(("plain",)).get_content())
    assert link is not None
    reasons = {
        r["template"]: r["status_reason"] for r in await pool.fetch("SELECT template, status_reason FROM notifications")
    }
    assert reasons["tenure_voucher"] == "no marketing consent"

    consent_url = f"/internal/v1/merchants/{merchant_id}/customers/d1/consent"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n") as http:
        waiting = (await http.get(consent_url)).json()
        assert waiting["email_marketing"] is False and waiting["awaiting_confirmation_since"] is not None
        page = await http.get(f"/internal/v1/opt-in/{link.group(1)}")
        assert page.status_code == 200 and '<form method="post"' in page.text  # a GET only asks
        assert (await http.get(consent_url)).json()["email_marketing"] is False
        assert (await http.post(f"/internal/v1/opt-in/{link.group(1)}")).status_code == 200
        confirmed = (await http.get(consent_url)).json()
        assert confirmed["email_marketing"] is True and confirmed["source"] == "double_opt_in"
        assert confirmed["confirmed_at"] is not None
        assert (await http.post(f"/internal/v1/opt-in/{link.group(1)}")).status_code == 410  # used up
        forged = link.group(1)[:-2] + ("AA" if not link.group(1).endswith("AA") else "BB")
        assert (await http.post(f"/internal/v1/opt-in/{forged}")).status_code == 404

        async with pool.acquire() as conn:
            await insert_requests(conn, [request_for(voucher_request(merchant_id, "d1", 2), NOW)])
        assert await sender.send_due(NOW + timedelta(minutes=1)) == 1  # marketing now goes

        again = signup.model_copy(update={"event_id": uuid.uuid4(), "occurred_at": NOW + timedelta(minutes=2)})
        async with pool.acquire() as conn:  # signing up again while subscribed: nothing to confirm
            await apply_consent(conn, [again])
        confirmations = await pool.fetchval("SELECT count(*) FROM notifications WHERE template = 'opt_in_confirmation'")
        assert confirmations == 1 and (await http.get(consent_url)).json()["email_marketing"] is True

        withdrawn = await http.put(consent_url, json={"granted": False, "source": "customer_service"})
        assert withdrawn.status_code == 200 and withdrawn.json()["email_marketing"] is False
        bad = await http.put(consent_url, json={"granted": "maybe", "source": "telepathy"})
        assert bad.status_code == 422 and {e["path"] for e in bad.json()["errors"]} == {"granted", "source"}


async def test_the_delay_apology_waits_briefly_for_loyaltys_goodwill_and_mentions_it(
    sender, smtp, merchant_id: str
) -> None:
    import json

    from services.common.contract.registry import CONTRACT_DIR
    from services.notifications.entrypoints.consumers import handle_shop_events

    def example(event_type: str, name: str) -> Envelope:
        raw = json.loads((CONTRACT_DIR / "examples" / event_type / "v1" / name).read_text())
        return Envelope.model_validate({**raw, "merchant_id": merchant_id, "occurred_at": NOW.isoformat()})

    apology = example("notification.requested", "delay-apology.json")  # the contract's own examples
    goodwill = example("loyalty.points_earned", "goodwill-late-parcel.json")
    pool = sender.runtime.pool
    async with pool.acquire() as conn:
        await upsert_contacts(conn, [customer_event(merchant_id, apology.data["customer_id"])])
        await insert_requests(conn, [request_for(apology, NOW)])  # tracking asks first...
    assert await sender.send_due(NOW) == 0  # ...the apology waits two minutes for loyalty
    async with pool.acquire() as conn:
        await handle_shop_events(conn, [goodwill])  # ...whose goodwill arrives a moment later
    assert await sender.send_due(NOW + timedelta(minutes=2)) == 1
    (mail,) = read_mails(smtp[1])
    text = mail.get_body(("plain",)).get_content()
    assert mail["Subject"] == "Dein Paket verspätet sich – das tut uns leid"
    assert "Als kleine Entschuldigung haben wir dir 50 Punkte gutgeschrieben." in text


async def test_the_customers_own_form_of_address_and_a_note_for_their_country(sender, smtp, merchant_id: str) -> None:
    from services.notifications.adapters.store import save_settings
    from services.notifications.domain.settings import NotificationSettings
    from services.notifications.entrypoints.consumers import handle_shop_events
    from tests.tracking_events import placed

    await save_settings(
        sender.runtime.pool,
        merchant_id,
        NotificationSettings(
            form_of_address="du",
            region_notes={"CH": {"de": "Für Lieferungen in die Schweiz können Zollgebühren anfallen."}},
        ),
    )
    swiss = customer_event(
        merchant_id, "r1", email="r1@example.ch", salutation="herr", last_name="Keller", form_of_address="sie",
        address={"city": "Zürich", "postcode": "8001", "country": "CH"},
    )  # fmt: skip
    german = customer_event(merchant_id, "r2", email="r2@example.de", address={"city": "Köln", "postcode": "50667",
                                                                               "country": "DE"})  # fmt: skip
    pool = sender.runtime.pool
    async with pool.acquire() as conn:
        await upsert_contacts(conn, [swiss, german])
        orders = [
            placed(f"o-{c}", NOW, customer=c).model_copy(update={"merchant_id": merchant_id}) for c in ("r1", "r2")
        ]
        await handle_shop_events(conn, orders)
    assert await sender.send_due(NOW) == 2
    mails = {str(m["To"]).split("<")[1][:-1]: m.get_body(("plain",)).get_content() for m in read_mails(smtp[1])}
    assert mails["r1@example.ch"].startswith("Guten Tag Herr Keller,")  # the customer's "sie" over the shop's "du"
    assert "vielen Dank für Ihre Bestellung" in mails["r1@example.ch"]
    assert "Zollgebühren" in mails["r1@example.ch"] and "Zollgebühren" not in mails["r2@example.de"]
    assert mails["r2@example.de"].startswith("Hallo Anna,")


MARKETING = {"review_request", "first_order_thank_you", "account_invitation", "cart_reminder", "birthday",
             "tenure_voucher", "win_back", "aftercare"}  # fmt: skip


@pytest.mark.parametrize("locale", ["de", "en"])
async def test_every_message_of_the_catalogue_goes_over_smtp_and_parses_back(
    sender, smtp, merchant_id: str, locale: str
) -> None:
    """Each message with its example facts, to a customer in `locale`, through the sender and a real SMTP server,
    then read back as MIME: subject as rendered, greeting, both alternatives, formatted facts, and the
    unsubscribe headers exactly on marketing mail."""
    from services.notifications.adapters.store import save_settings
    from services.notifications.domain.examples import EXAMPLE_FACTS
    from services.notifications.domain.messages import NotificationRequest, template_context, trigger_notification_id
    from services.notifications.domain.settings import NotificationSettings
    from services.notifications.entrypoints.consumers import apply_consent

    pool = sender.runtime.pool
    await save_settings(pool, merchant_id, NotificationSettings(budget_mails=50))  # all of them in one go
    async with pool.acquire() as conn:
        await upsert_contacts(conn, [customer_event(merchant_id, "all", locale=locale, email="all@example.de")])
        await apply_consent(conn, [marketing_opt_in(merchant_id, "all")])
        await insert_requests(
            conn,
            [
                NotificationRequest(
                    notification_id=trigger_notification_id(merchant_id, f"all:{message}"),
                    merchant_id=merchant_id,
                    customer_id="all",
                    template=message,
                    context=facts,
                    trigger_event=uuid.uuid4(),
                    not_before=NOW,
                    give_up_at=NOW + timedelta(hours=1),
                    category="merchant" if message == "review_alert" else
                    "marketing" if message in MARKETING else "transactional",
                    trigger_id=f"all:{message}",
                    trigger_at=NOW,
                )
                for message, facts in EXAMPLE_FACTS.items()
            ],
        )  # fmt: skip
    sent = 0
    while claimed := await sender.send_due(NOW):  # 10:30 in Berlin: no quiet hours; a batch at a time
        sent += claimed
    statuses = await pool.fetch("SELECT template, status, status_reason FROM notifications WHERE status <> 'sent'")
    assert sent == len(EXAMPLE_FACTS), [dict(r) for r in statuses]
    mails = {m["X-Retention-Notification-Id"]: m for m in read_mails(smtp[1])}
    renderer = Renderer()
    for message, facts in EXAMPLE_FACTS.items():
        mail = mails[str(trigger_notification_id(merchant_id, f"all:{message}"))]
        text = mail.get_body(("plain",)).get_content()
        html = mail.get_body(("html",)).get_content()
        to_team = message == "review_alert"
        expected = renderer.render(
            message, "de" if to_team else locale, template_context(facts, None if to_team else "Anna", merchant_id,
                                                                   last_name=None if to_team else "Schmidt")
        )  # fmt: skip
        assert mail["Subject"] == expected.subject, message
        hello = {"de": "Hallo", "en": "Hello"}["de" if to_team else locale]
        assert text.startswith(f"{hello} Anna," if not to_team else f"{hello},"), (message, text[:40])
        assert f"<p>{hello}" in html and merchant_id in html and "None" not in text + html, message
        assert (mail["List-Unsubscribe"] is not None) == (message in MARKETING), message
        assert ("team@shop.example" in str(mail["To"])) == to_team, message
    order = mails[str(trigger_notification_id(merchant_id, "all:order_received"))].get_body(("plain",)).get_content()
    assert ("129,90\xa0€" if locale == "de" else "€129.90") in order
    expiring = (
        mails[str(trigger_notification_id(merchant_id, "all:points_expiring"))].get_body(("plain",)).get_content()
    )
    assert ("1. Juni 2026" if locale == "de" else "1 June 2026") in expiring
    shipped = mails[str(trigger_notification_id(merchant_id, "all:shipped"))].get_body(("plain",)).get_content()
    assert "https://shop.example/t/abc" in shipped


async def test_smtp_auth_is_used_when_configured_and_without_it_nothing_is_taken(
    tmp_path: Path,
) -> None:
    """A provider that requires AUTH (aiosmtpd with an authenticator): the configured login sends; with a wrong
    login or none the server takes nothing."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    from services.notifications.adapters.smtp import SendFailed, build_message
    from services.notifications.domain.messages import template_context
    from services.platform.smtp_sink import MaildirHandler

    def authenticator(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"shop", b"s3cret")
        return AuthResult(success=ok)

    port = free_port()
    controller = Controller(
        MaildirHandler(tmp_path / "auth"),
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=False,  # the test has no certificate; production uses SMTP_SECURITY=starttls or tls
    )
    controller.start()
    rendered = Renderer().render("points_earned", "de", template_context({"points": 1, "balance": 1}, "A", "S"))
    mail = build_message(rendered, sender=("S", "s@example.de"), recipient=("A", "a@example.de"), notification_id="n")
    try:
        good = SmtpSender(SmtpConfig("127.0.0.1", port, username="shop", password="s3cret"))
        assert await good.send(mail) == mail.message_id
        await good.close()
        assert len(read_mails(tmp_path / "auth")) == 1
        wrong_login = SmtpConfig("127.0.0.1", port, username="shop", password="nope", timeout_s=2)
        with pytest.raises(SendFailed) as refused:
            await SmtpSender(wrong_login).send(mail)
        assert refused.value.retry and not refused.value.bounce  # never taken: kept for after the fix
        with pytest.raises(SendFailed) as refused:
            await SmtpSender(SmtpConfig("127.0.0.1", port, timeout_s=2)).send(mail)  # no AUTH at all
        assert "530" in refused.value.reason and not refused.value.bounce
        assert len(read_mails(tmp_path / "auth")) == 1
    finally:
        controller.stop()
