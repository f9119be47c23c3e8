"""Notifications through the merchant API: settings (sender, branding, which messages and when) and the shop's
own wording of each message."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Body, Path
from fastapi.responses import Response

from services.gateway.api.deps import FORWARDED, WITH_BODY, RuntimeDep, example_response, require_scope
from services.gateway.api.quotas import quota
from services.gateway.api.routes.customers import CustomerId
from services.gateway.api.routes.text_guard import STORABLE_BODY
from services.notifications.adapters.custom_templates import TemplateDraft
from services.notifications.domain.settings import NotificationSettings
from services.notifications.entrypoints.api import ConsentUpdate
from services.notifications.entrypoints.templates_api import Locale, Message, PreviewRequest

router = APIRouter(prefix="/v1", tags=["notifications"], responses=FORWARDED, dependencies=[STORABLE_BODY])
MessageName = Annotated[Message, Path(description="The message", examples=["shipped"])]
Language = Annotated[Locale, Path(description="Its language", examples=["de"])]

# --- examples (the Kaffeerösterei's mails) -------------------------------------------------------------------------

SETTINGS_EXAMPLE = {
    "sender_name": "Kaffeerösterei Dortmund",
    "sender_email": "hallo@kaffeeroesterei-dortmund.de",
    "reply_to": "service@kaffeeroesterei-dortmund.de",
    "form_of_address": "du",
    "legal_footer": "Kaffeerösterei Dortmund GmbH · Kaiserstraße 12 · 44135 Dortmund · HRB 31415 AG Dortmund · "
    "USt-IdNr. DE123456789",
    "brand_logo_url": "https://cdn.kaffeeroesterei-dortmund.de/logo.png",
    "brand_colour": "#6b3e26",
    "shop_url": "https://shop.kaffeeroesterei-dortmund.de",
    "account_url": "https://shop.kaffeeroesterei-dortmund.de/konto/anlegen",
    "double_opt_in": True,
    "disabled_messages": ["order_received"],
    "budget_mails": 3,
    "budget_days": 7,
    "quiet_from": "21:00:00",
    "quiet_until": "08:00:00",
    "cart_reminder_minutes": 90,
    "first_order_thank_you_minutes": 30,
    "review_request_days": 7,
    "review_request_days_by_category": {"coffee": 10, "accessories": 21},
    "aftercare": {},
    "win_back_days": 90,
    "win_back_code": "WIEDERDA10",
    "win_back_percent_off": 10,
    "negative_review_max_rating": 2,
    "positive_review_min_rating": 4,
    "review_recovery_offer": {"de": "Als Entschuldigung schenken wir dir 5 € auf deine nächste Bestellung."},
    "region_notes": {"CH": {"de": "Für Sendungen in die Schweiz fallen Zollgebühren an."}},
    "review_alert_email": "team@kaffeeroesterei-dortmund.de",
    "review_alert_locale": "de",
}
DRAFT_EXAMPLE = {
    "subject": "{% if formal %}Ihr Kaffee ist unterwegs{% else %}Dein Kaffee ist unterwegs{% endif %}",
    "text": "{{ greeting }}\n\nfrisch geröstet und schon unterwegs: {% if tracking_number %}Sendungsnummer "
    "{{ tracking_number }}. {% endif %}{% if link %}{{ link }}{% endif %}\n\n{{ sign_off }}\n{{ merchant_name }}",
    "html": "<p>{{ greeting }}</p><p>frisch geröstet und schon unterwegs{% if link %}: "
    '<a href="{{ link }}">Sendung verfolgen</a>{% endif %}.</p><p>{{ sign_off }}<br>{{ merchant_name }}</p>',
}
TEMPLATE_EXAMPLE = {"message": "shipped", "locale": "de", "customised": True, **DRAFT_EXAMPLE}
DEFAULT_TEMPLATE_EXAMPLE = {
    "message": "shipped",
    "locale": "de",
    "customised": False,
    "subject": "{% if formal %}Ihre Bestellung ist unterwegs{% else %}Deine Bestellung ist unterwegs{% endif %}",
    "text": "{{ greeting }}\n\ngute Nachrichten: {% if formal %}Ihr{% else %}dein{% endif %} Paket ist unterwegs"
    "{% if carrier_name %} mit {{ carrier_name }}{% endif %}.\n\n{{ sign_off }}\n{{ merchant_name }}",
    "html": "<p>{{ greeting }}</p>\n<p>gute Nachrichten: {% if formal %}Ihr{% else %}dein{% endif %} Paket ist "
    "unterwegs{% if carrier_name %} mit {{ carrier_name }}{% endif %}.</p>\n"
    "<p>{{ sign_off }}<br>{{ merchant_name }}</p>",
}
TEMPLATES_EXAMPLE = {
    "templates": [
        {"message": "order_received", "locale": "de", "customised": False, "updated_at": None},
        {"message": "shipped", "locale": "de", "customised": True, "updated_at": "2026-03-02T09:00:00Z"},
        {"message": "shipped", "locale": "en", "customised": False, "updated_at": None},
    ]
}
PREVIEW_EXAMPLE = {
    "subject": "Dein Kaffee ist unterwegs",
    "text": "Hallo Anna,\n\nfrisch geröstet und schon unterwegs: Sendungsnummer 00340434161094042557. "
    "https://shop.kaffeeroesterei-dortmund.de/t/WyJrYWZmZWUiLCJvLTEwMDIzNCJd\n\nViele Grüße\nKaffeerösterei Dortmund",
    "html": '<!doctype html>\n<html lang="de">…<p>Hallo Anna,</p><p>frisch geröstet und schon unterwegs: '
    '<a href="https://shop.kaffeeroesterei-dortmund.de/t/WyJrYWZmZWUiLCJvLTEwMDIzNCJd">Sendung verfolgen</a>.</p>'
    "…</html>",
}
CONSENT_EXAMPLE = {
    "customer_id": "c-4711",
    "email_marketing": True,
    "changed_at": "2026-03-05T14:30:00Z",
    "source": "double_opt_in",
    "awaiting_confirmation_since": None,
    "confirmed_at": "2026-03-05T14:30:00Z",
    "bounced_at": None,
}


def _base(merchant_id: str) -> str:
    return f"/internal/v1/merchants/{quote(merchant_id, safe='')}"


@router.get("/notifications/settings", responses=example_response(200, SETTINGS_EXAMPLE))
async def get_notification_settings(runtime: RuntimeDep, merchant=require_scope("customers:read")) -> Response:
    """Who the mails come from, `du` or `Sie`, and the legal footer under every mail."""
    return await runtime.extras["services"].send(
        "GET", "notifications", f"{_base(merchant.merchant_id)}/notifications/settings"
    )


@router.put("/notifications/settings", responses=WITH_BODY | example_response(200, SETTINGS_EXAMPLE))
async def put_notification_settings(
    settings: Annotated[NotificationSettings, Body(openapi_examples={"roesterei": {"value": SETTINGS_EXAMPLE}})],
    runtime: RuntimeDep,
    merchant=require_scope("config:write"),
) -> Response:
    """Replace the notification settings (validated: addresses, lengths, `du` or `Sie`)."""
    return await runtime.extras["services"].send(
        "PUT",
        "notifications",
        f"{_base(merchant.merchant_id)}/notifications/settings",
        json=settings.model_dump(mode="json"),
    )


@router.get("/notifications/templates", responses=example_response(200, TEMPLATES_EXAMPLE))
async def list_notification_templates(runtime: RuntimeDep, merchant=require_scope("customers:read")) -> Response:
    """Every message in German and English, and whether the shop has its own wording."""
    return await runtime.extras["services"].send(
        "GET", "notifications", f"{_base(merchant.merchant_id)}/notifications/templates"
    )


@router.get("/notifications/templates/{message}/{locale}", responses=example_response(200, TEMPLATE_EXAMPLE))
async def get_notification_template(
    message: MessageName, locale: Language, runtime: RuntimeDep, merchant=require_scope("customers:read")
) -> Response:
    """The wording in use (subject, text, html body as Jinja2): the shop's own, else the default."""
    return await runtime.extras["services"].send(
        "GET", "notifications", f"{_base(merchant.merchant_id)}/notifications/templates/{message}/{locale}"
    )


@router.put(
    "/notifications/templates/{message}/{locale}", responses=WITH_BODY | example_response(200, TEMPLATE_EXAMPLE)
)
async def put_notification_template(
    message: MessageName,
    locale: Language,
    draft: Annotated[TemplateDraft, Body(openapi_examples={"roestfrisch": {"value": DRAFT_EXAMPLE}})],
    runtime: RuntimeDep,
    merchant=require_scope("config:write"),
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


@router.delete("/notifications/templates/{message}/{locale}", responses=example_response(200, DEFAULT_TEMPLATE_EXAMPLE))
async def reset_notification_template(
    message: MessageName, locale: Language, runtime: RuntimeDep, merchant=require_scope("config:write")
) -> Response:
    """Back to the default wording."""
    return await runtime.extras["services"].send(
        "DELETE", "notifications", f"{_base(merchant.merchant_id)}/notifications/templates/{message}/{locale}"
    )


@router.post(
    "/notifications/templates/{message}/{locale}/preview", responses=WITH_BODY | example_response(200, PREVIEW_EXAMPLE)
)
async def preview_notification_template(
    message: MessageName,
    locale: Language,
    request: Annotated[
        PreviewRequest,
        Body(
            openapi_examples={
                "draft": {"summary": "An unsaved wording", "value": {"draft": DRAFT_EXAMPLE, "first_name": "Anna"}},
                "in-use": {"summary": "The wording in use, formal", "value": {"form_of_address": "Sie"}},
            }
        ),
    ],
    runtime: RuntimeDep,
    merchant=require_scope("customers:read"),
    _quota=quota("sends"),
) -> Response:
    """The mail as a customer would get it (example facts, the shop's sender, frame and footer), from the wording
    in use or an unsaved `draft`. Rendering is costly: a per-merchant quota applies (429 with `Retry-After`)."""
    return await runtime.extras["services"].send(
        "POST",
        "notifications",
        f"{_base(merchant.merchant_id)}/notifications/templates/{message}/{locale}/preview",
        json=request.model_dump(mode="json", exclude_none=True),
    )


@router.get("/customers/{customer_id}/consent", responses=example_response(200, CONSENT_EXAMPLE))
async def get_customer_consent(
    customer_id: CustomerId, runtime: RuntimeDep, merchant=require_scope("customers:read")
) -> Response:
    """E-mail marketing consent as notifications decides with it: granted or not, since when, the source, the
    double opt-in times (asked, confirmed) and a hard bounce, if any."""
    return await runtime.extras["services"].send(
        "GET", "notifications", f"{_base(merchant.merchant_id)}/customers/{quote(customer_id, safe='')}/consent"
    )


@router.put(
    "/customers/{customer_id}/consent",
    responses=WITH_BODY
    | example_response(200, CONSENT_EXAMPLE | {"source": "account_settings", "changed_at": "2026-03-06T10:12:00Z"}),
)
async def put_customer_consent(
    customer_id: CustomerId,
    change: Annotated[
        ConsentUpdate,
        Body(
            openapi_examples={
                "confirmed": {
                    "summary": "Granted in the customer account, confirmed by the shop's own double opt-in",
                    "value": {"granted": True, "source": "account_settings", "double_opt_in_confirmed": True},
                },
                "withdrawn": {
                    "summary": "Withdrawn on the phone",
                    "value": {"granted": False, "source": "customer_service"},
                },
            }
        ),
    ],
    runtime: RuntimeDep,
    merchant=require_scope("config:write"),
) -> Response:
    """Change it from the shop's side. A grant the shop has not confirmed by double opt-in itself sends the
    confirmation mail, and consent starts with the customer's click (when the shop's settings ask for it)."""
    return await runtime.extras["services"].send(
        "PUT",
        "notifications",
        f"{_base(merchant.merchant_id)}/customers/{quote(customer_id, safe='')}/consent",
        json=change.model_dump(mode="json"),
    )
