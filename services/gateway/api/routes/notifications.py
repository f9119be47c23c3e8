"""Notification settings through the merchant API: sender, form of address, legal footer."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import Response

from services.gateway.api.deps import RuntimeDep, require_scope
from services.notifications.domain.settings import NotificationSettings

router = APIRouter(prefix="/v1", tags=["notifications"])


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
