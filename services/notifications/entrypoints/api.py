"""Notifications' internal HTTP API: the message log of a customer, for the gateway."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from html import escape
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict

from services.common.envelope import new_envelope
from services.common.http import problem
from services.common.service_app import Runtime
from services.notifications.adapters.store import (
    confirm_opt_in,
    consent_of,
    save_settings,
    settings_of,
    withdraw_marketing_consent,
)
from services.notifications.adapters.unsubscribe import OptInLinks, UnsubscribeLinkInvalid, UnsubscribeLinks
from services.notifications.domain.settings import NotificationSettings
from services.notifications.entrypoints.consumers import apply_consent

_PAGE = """<!doctype html><html lang="de"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">
<title>Newsletter</title></head><body style="font-family: system-ui, sans-serif; max-width: 560px; margin: 40px auto;
padding: 0 16px">{body}</body></html>"""


class ConsentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    granted: bool
    source: Literal["account_settings", "customer_service", "newsletter_signup", "checkout", "double_opt_in", "other"]
    #: True when the shop ran double opt-in itself; otherwise a grant sends our confirmation mail first.
    double_opt_in_confirmed: bool = False


_EXPIRED = "<p>Dieser Link ist ungültig oder abgelaufen. / This link is not valid any more.</p>"
_INVALID = "<p>Dieser Link ist ungültig. / This link is not valid.</p>"


def _page(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(body=body), status_code=status)


def _read_link(links: UnsubscribeLinks | OptInLinks | None, token: str, invalid: str) -> tuple[Any, ...] | HTMLResponse:
    """What a signed link says, or the page to show instead (links not configured: 503; forged or expired: 404)."""
    if links is None:
        return _page("<p>Not available.</p>", 503)
    try:
        return links.read(token)
    except UnsubscribeLinkInvalid:
        return _page(invalid, 404)


def router(
    runtime: Runtime, unsubscribe: UnsubscribeLinks | None = None, opt_in: OptInLinks | None = None
) -> APIRouter:
    root = APIRouter()
    api = APIRouter(prefix="/internal/v1/merchants/{merchant_id}", tags=["notifications"])
    public = APIRouter(prefix="/internal/v1", tags=["notifications"])

    @public.get("/unsubscribe/{token}", response_class=HTMLResponse)
    async def unsubscribe_page(token: str) -> HTMLResponse:
        """Asks before it acts: link scanners in mail systems open every GET, so only the POST unsubscribes."""
        found = _read_link(unsubscribe, token, _INVALID)
        if isinstance(found, HTMLResponse):
            return found
        form = (
            f'<form method="post" action="{escape(token)}"><p>Keine Werbe-E-Mails mehr von uns erhalten?</p>'
            '<p><button type="submit" name="List-Unsubscribe" value="One-Click">Abmelden / Unsubscribe</button></p>'
            "<p>Mails zu deinen Bestellungen bekommst du weiterhin. / Order mails keep coming.</p></form>"
        )
        return _page(form)

    @public.post("/unsubscribe/{token}", response_class=HTMLResponse)
    async def unsubscribe_now(token: str) -> HTMLResponse:
        """RFC 8058 one-click (mail clients POST `List-Unsubscribe=One-Click`) and the page's button."""
        found = _read_link(unsubscribe, token, _INVALID)
        if isinstance(found, HTMLResponse):
            return found
        merchant_id, customer_id = found
        await withdraw_marketing_consent(runtime.pool, merchant_id, customer_id, datetime.now(UTC))
        return _page("<p>Du bist abgemeldet: keine Werbe-E-Mails mehr. / You are unsubscribed from marketing mail.</p>")

    @public.get("/opt-in/{token}", response_class=HTMLResponse)
    async def opt_in_page(token: str) -> HTMLResponse:
        """The double opt-in link: a page that asks first (link scanners open every GET; only a person confirms)."""
        found = _read_link(opt_in, token, _EXPIRED)
        if isinstance(found, HTMLResponse):
            return found
        form = (
            f'<form method="post" action="{escape(token)}"><p>Newsletter bestätigen? / Confirm the newsletter?</p>'
            '<p><button type="submit">Ja, bestätigen / Yes, confirm</button></p></form>'
        )
        return _page(form)

    @public.post("/opt-in/{token}", response_class=HTMLResponse)
    async def opt_in_confirm(token: str) -> HTMLResponse:
        found = _read_link(opt_in, token, _EXPIRED)
        if isinstance(found, HTMLResponse):
            return found
        merchant_id, customer_id, asked_at = found
        if not await confirm_opt_in(runtime.pool, merchant_id, customer_id, asked_at, datetime.now(UTC)):
            return _page(_EXPIRED, 410)
        return _page("<p>Danke, du bist angemeldet. / Thank you, you are subscribed.</p>")

    @api.get("/customers/{customer_id}/consent")
    async def get_consent(merchant_id: str, customer_id: str) -> dict[str, Any]:
        """E-mail marketing consent as it is now, with its proof (source, double opt-in times) and bounces."""
        return await consent_of(runtime.pool, merchant_id, customer_id)

    @api.put("/customers/{customer_id}/consent")
    async def put_consent(merchant_id: str, customer_id: str, change: ConsentUpdate) -> dict[str, Any]:
        """Change it from the shop's side (customer service, account settings). A grant the shop has not
        confirmed sends the double opt-in mail when the merchant asks for double opt-in."""
        data = {"customer_id": customer_id, "channel": "email", "purpose": "marketing", **change.model_dump()}
        event = new_envelope("consent.changed", merchant_id, data, occurred_at=datetime.now(UTC))
        async with runtime.pool.acquire() as conn, conn.transaction():
            await apply_consent(conn, [event])
        return await consent_of(runtime.pool, merchant_id, customer_id)

    @api.get("/notifications/settings")
    async def get_settings(merchant_id: str) -> dict[str, Any]:
        """Sender, form of address and legal footer of the merchant's mails (defaults until saved)."""
        return (await settings_of(runtime.pool, [merchant_id]))[merchant_id].model_dump(mode="json")

    @api.put("/notifications/settings")
    async def put_settings(merchant_id: str, settings: NotificationSettings) -> dict[str, Any]:
        """Replace the settings; they apply to every mail sent from now on."""
        await save_settings(runtime.pool, merchant_id, settings)
        return settings.model_dump(mode="json")

    @api.get("/customers/{customer_id}/messages")
    async def customer_messages(
        merchant_id: str,
        customer_id: str,
        before: Annotated[str | None, Query(max_length=100, description="`next_cursor` of the previous page")] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> Any:
        """Notifications for one customer, newest first, with status and reason; cursor-paged."""
        created, bar, notification = (before or "").partition("|")
        try:
            after_time = datetime.fromisoformat(created) if before else None
            after_id = uuid.UUID(notification) if before else None
        except ValueError:
            after_time = after_id = None
            bar = ""
        if before is not None and not bar:
            return problem(422, "Invalid cursor", "pass `next_cursor` of the previous page unchanged",
                           errors=[{"path": "before", "message": "not a cursor of this list"}])  # fmt: skip
        rows = await runtime.pool.fetch(
            "SELECT notification_id, template, status, status_reason, created_at, sent_at FROM notifications "
            "WHERE merchant_id = $1 AND customer_id = $2 "
            "AND ($3::timestamptz IS NULL OR (created_at, notification_id) < ($3::timestamptz, $4::uuid)) "
            "ORDER BY created_at DESC, notification_id DESC LIMIT $5",
            merchant_id,
            customer_id,
            after_time,
            after_id,
            limit + 1,
        )
        messages = [dict(r) for r in rows[:limit]]
        last = messages[-1] if len(rows) > limit else None
        cursor = f"{last['created_at'].isoformat()}|{last['notification_id']}" if last else None
        return {"customer_id": customer_id, "messages": messages, "next_cursor": cursor}

    root.include_router(api)
    root.include_router(public)
    return root
