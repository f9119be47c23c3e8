"""Notifications' template API for the gateway: list, read, change (checked), preview and reset a merchant's
wording of each message, per language."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.common.http import problem
from services.common.service_app import Runtime
from services.notifications.adapters.custom_templates import (
    TemplateDraft,
    check,
    customised,
    default_draft,
    reset_draft,
    save_draft,
    saved_drafts,
)
from services.notifications.adapters.rendering import Renderer
from services.notifications.adapters.store import settings_of
from services.notifications.domain.examples import EXAMPLE_FACTS
from services.notifications.domain.messages import template_context
from services.notifications.domain.settings import MESSAGES

Message = Literal[MESSAGES]  # type: ignore[valid-type]
Locale = Literal["de", "en"]


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Unsaved wording to try; absent: what is in use (the merchant's, else the default).
    draft: TemplateDraft | None = None
    #: German form of address for the preview; absent: the merchant's setting.
    form_of_address: Literal["du", "Sie"] | None = None
    first_name: str | None = Field("Anna", max_length=100)


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(prefix="/internal/v1/merchants/{merchant_id}/notifications/templates", tags=["notifications"])
    renderer = Renderer()

    async def in_use(merchant_id: str, message: str, locale: str) -> tuple[TemplateDraft, bool]:
        saved = await saved_drafts(runtime.pool, {(merchant_id, message, locale)})
        draft = saved.get((merchant_id, message, locale))
        return (draft, True) if draft else (default_draft(message, locale), False)

    @api.get("")
    async def list_templates(merchant_id: str) -> dict[str, Any]:
        """Every message in both languages, and whether the merchant has their own wording."""
        own = await customised(runtime.pool, merchant_id)
        return {
            "templates": [
                {"message": m, "locale": loc, "customised": (m, loc) in own, "updated_at": own.get((m, loc))}
                for m in MESSAGES
                for loc in ("de", "en")
            ]
        }

    @api.get("/{message}/{locale}")
    async def get_template(merchant_id: str, message: Message, locale: Locale) -> dict[str, Any]:
        """The wording in use: the merchant's, else the default (a starting point to edit)."""
        draft, own = await in_use(merchant_id, message, locale)
        return {"message": message, "locale": locale, "customised": own, **draft.model_dump()}

    @api.put("/{message}/{locale}", response_model=None)
    async def put_template(
        merchant_id: str, message: Message, locale: Locale, draft: TemplateDraft
    ) -> dict[str, Any] | JSONResponse:
        """Check and save the merchant's wording; refused with every problem and its part otherwise."""
        problems = check(renderer, message, locale, draft)
        if problems:
            errors = [{"path": p.path, "message": p.message} for p in problems]
            return problem(422, "Template refused", "The template would fail or is not allowed.", errors=errors)
        await save_draft(runtime.pool, merchant_id, message, locale, draft)
        return {"message": message, "locale": locale, "customised": True, **draft.model_dump()}

    @api.delete("/{message}/{locale}")
    async def reset_template(merchant_id: str, message: Message, locale: Locale) -> dict[str, Any]:
        """Back to the default wording."""
        await reset_draft(runtime.pool, merchant_id, message, locale)
        return {
            "message": message,
            "locale": locale,
            "customised": False,
            **default_draft(message, locale).model_dump(),
        }

    @api.post("/{message}/{locale}/preview", response_model=None)
    async def preview(
        merchant_id: str, message: Message, locale: Locale, request: PreviewRequest
    ) -> dict[str, Any] | JSONResponse:
        """The mail with the message's example facts, the merchant's settings (sender, frame, footer) and either
        the wording in use or an unsaved draft (checked like a save)."""
        if request.draft is not None:
            problems = check(renderer, message, locale, request.draft)
            if problems:
                errors = [{"path": f"draft.{p.path}" if p.path else "draft", "message": p.message} for p in problems]
                return problem(422, "Template refused", "The draft would fail or is not allowed.", errors=errors)
            draft = request.draft
        else:
            draft, _ = await in_use(merchant_id, message, locale)
        settings = (await settings_of(runtime.pool, [merchant_id]))[merchant_id]
        form = request.form_of_address or settings.form_of_address
        context = template_context(
            EXAMPLE_FACTS[message],
            request.first_name,
            settings.sender_name or merchant_id,
            last_name="Schmidt",
            salutation="frau",
            formal=form == "Sie",
            legal_footer=settings.legal_footer,
            brand_colour=settings.brand_colour,
            brand_logo_url=str(settings.brand_logo_url) if settings.brand_logo_url else None,
        )
        rendered = renderer.render(message, locale, context, source=draft.source())
        return {"subject": rendered.subject, "text": rendered.text, "html": rendered.html}

    return api
