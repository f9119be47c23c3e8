"""Notifications through the merchant API: settings (sender, branding, which messages and when) and the shop's
own wording of each message."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import Response

from services.gateway.api.deps import RATE_LIMITED, RuntimeDep, require_scope
from services.gateway.api.routes.customers import CustomerId
from services.notifications.adapters.custom_templates import TemplateDraft
from services.notifications.domain.settings import NotificationSettings
from services.notifications.entrypoints.api import ConsentUpdate
from services.notifications.entrypoints.templates_api import Locale, Message, PreviewRequest

router = APIRouter(prefix="/v1", tags=["notifications"], responses=RATE_LIMITED)


def _base(merchant_id: str) -> str:
    return f"/internal/v1/merchants/{quote(merchant_id, safe='')}"


@router.get("/notifications/settings")
async def get_notification_settings(runtime: RuntimeDep, merchant=require_scope("customers:read")) -> Response:
    """Who the mails come from, `du` or `Sie`, and the legal footer under every mail."""
    return await runtime.extras["services"].send(
        "GET", "notifications", f"{_base(merchant.merchant_id)}/notifications/settings"
    )


@router.put("/notifications/settings")
async def put_notification_settings(
    settings: NotificationSettings, runtime: RuntimeDep, merchant=require_scope("config:write")
) -> Response:
    """Replace the notification settings (validated: addresses, lengths, `du` or `Sie`)."""
    return await runtime.extras["services"].send(
        "PUT",
        "notifications",
        f"{_base(merchant.merchant_id)}/notifications/settings",
        json=settings.model_dump(mode="json"),
    )


@router.get("/notifications/templates")
async def list_notification_templates(runtime: RuntimeDep, merchant=require_scope("customers:read")) -> Response:
    """Every message in German and English, and whether the shop has its own wording."""
    return await runtime.extras["services"].send(
        "GET", "notifications", f"{_base(merchant.merchant_id)}/notifications/templates"
    )


@router.get("/notifications/templates/{message}/{locale}")
async def get_notification_template(
    message: Message, locale: Locale, runtime: RuntimeDep, merchant=require_scope("customers:read")
) -> Response:
    """The wording in use (subject, text, html body as Jinja2): the shop's own, else the default."""
    return await runtime.extras["services"].send(
        "GET", "notifications", f"{_base(merchant.merchant_id)}/notifications/templates/{message}/{locale}"
    )


@router.put("/notifications/templates/{message}/{locale}")
async def put_notification_template(
    message: Message, locale: Locale, draft: TemplateDraft, runtime: RuntimeDep, merchant=require_scope("config:write")
) -> Response:
    """Save the shop's wording. Refused with 422 and every problem by part (`subject`, `text`, `html`): syntax
    errors with the line, unknown variables, `_`-attributes, the `attr` filter, include/import, and anything
    that fails with the message's example facts."""
    return await runtime.extras["services"].send(
        "PUT",
        "notifications",
        f"{_base(merchant.merchant_id)}/notifications/templates/{message}/{locale}",
        json=draft.model_dump(mode="json"),
    )


@router.delete("/notifications/templates/{message}/{locale}")
async def reset_notification_template(
    message: Message, locale: Locale, runtime: RuntimeDep, merchant=require_scope("config:write")
) -> Response:
    """Back to the default wording."""
    return await runtime.extras["services"].send(
        "DELETE", "notifications", f"{_base(merchant.merchant_id)}/notifications/templates/{message}/{locale}"
    )


@router.post("/notifications/templates/{message}/{locale}/preview")
async def preview_notification_template(
    message: Message,
    locale: Locale,
    request: PreviewRequest,
    runtime: RuntimeDep,
    merchant=require_scope("customers:read"),
) -> Response:
    """The mail as a customer would get it (example facts, the shop's sender, frame and footer), from the wording
    in use or an unsaved `draft`."""
    return await runtime.extras["services"].send(
        "POST",
        "notifications",
        f"{_base(merchant.merchant_id)}/notifications/templates/{message}/{locale}/preview",
        json=request.model_dump(mode="json", exclude_none=True),
    )


@router.get("/customers/{customer_id}/consent")
async def get_customer_consent(
    customer_id: CustomerId, runtime: RuntimeDep, merchant=require_scope("customers:read")
) -> Response:
    """E-mail marketing consent as notifications decides with it: granted or not, since when, the source, the
    double opt-in times (asked, confirmed) and a hard bounce, if any."""
    return await runtime.extras["services"].send(
        "GET", "notifications", f"{_base(merchant.merchant_id)}/customers/{quote(customer_id, safe='')}/consent"
    )


@router.put("/customers/{customer_id}/consent")
async def put_customer_consent(
    customer_id: CustomerId, change: ConsentUpdate, runtime: RuntimeDep, merchant=require_scope("config:write")
) -> Response:
    """Change it from the shop's side. A grant the shop has not confirmed by double opt-in itself sends the
    confirmation mail, and consent starts with the customer's click (when the shop's settings ask for it)."""
    return await runtime.extras["services"].send(
        "PUT",
        "notifications",
        f"{_base(merchant.merchant_id)}/customers/{quote(customer_id, safe='')}/consent",
        json=change.model_dump(mode="json"),
    )
