"""Renders a notification into subject, plain text and HTML with Jinja2's sandbox and autoescape."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from jinja2 import FileSystemLoader, StrictUndefined, Template, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from services.notifications.domain.messages import greeting, sign_off

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
#: British English for dates ("5 March 2026"): the shops are European, not American.
BABEL_LOCALES = {"de": "de_DE", "en": "en_GB"}
DEFAULT_BRAND_COLOUR = "#1f6feb"


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str


class Renderer:
    def __init__(self, folder: Path = TEMPLATES) -> None:
        # Sandbox + autoescape: merchant-authored templates (issue 5) will share this environment.
        self.env = ImmutableSandboxedEnvironment(
            loader=FileSystemLoader(folder),
            autoescape=select_autoescape(enabled_extensions=("j2",), default=True),  # _page.html.j2 too
            undefined=StrictUndefined,
        )
        self.env.filters["number"] = format_number
        self.env.filters["day"] = format_day
        self.env.filters["money"] = format_money

        self.page = self.env.get_template("_page.html.j2")
        self._custom: dict[str, Template] = {}

    def _compiled(self, source: str) -> Template:
        compiled = self._custom.get(source)
        if compiled is None:
            if len(self._custom) >= 1024:  # merchants' templates change rarely: a full cache is simply dropped
                self._custom.clear()
            compiled = self._custom[source] = self.env.from_string(source)
        return compiled

    def render(
        self, template: str, locale: str, context: dict[str, Any], *, source: str | None = None
    ) -> RenderedMessage:
        """One message's blocks, greeting and sign-off from the context's name and form of address, the HTML
        in the merchant's frame (logo, colour) and the legal footer under both alternatives. `source`: the
        merchant's own wording of the message (checked when saved), compiled once and kept."""
        compiled = self._compiled(source) if source is not None else self.env.get_template(f"{template}.{locale}.j2")
        context = {**context, **_localized(context.get("localized"), locale)}
        context = {
            "greeting": greeting(
                locale,
                formal=bool(context.get("formal")),
                first_name=context.get("first_name"),
                last_name=context.get("last_name"),
                salutation=context.get("salutation"),
            ),
            "sign_off": sign_off(locale, formal=bool(context.get("formal"))),
            "brand_colour": DEFAULT_BRAND_COLOUR,
            "brand_logo_url": None,
            "legal_footer": None,
            "country": None,
            "region_note": None,
            **context,
            "locale": locale,
        }
        ctx = compiled.new_context(context)

        def block(name: str) -> str:
            return "".join(compiled.blocks[name](ctx)).strip()

        # The subject goes into a header: no HTML escaping there, and no line breaks (header injection).
        subject = _unescape(" ".join(block("subject").split()))
        # Optional sentences that had nothing to say leave empty paragraphs: drop them.
        text = re.sub(r"\n{3,}", "\n\n", _unescape(block("text")))
        if context["legal_footer"]:
            text += f"\n\n--\n{context['legal_footer']}"
        body = re.sub(r"<p( [^>]*)?>\s*</p>\n?", "", block("html"))
        page = self.page.render({**context, "subject": subject, "body": Markup(body)})
        return RenderedMessage(subject=subject, text=text, html=page)


def _localized(texts: object, locale: str) -> dict[str, Any]:
    """Merchant-written facts per language ({"de": {...}, "en": {...}}): only the customer's language, never a
    sentence in another one (a flow that must always say something fills every language itself)."""
    chosen = texts.get(locale) if isinstance(texts, dict) else None
    return chosen if isinstance(chosen, dict) else {}


def format_number(value: object, locale: str) -> str:
    """1234 → '1.234' in German, '1,234' in English (Babel's CLDR data)."""
    return format_decimal(value, locale=locale) if isinstance(value, int | float) else str(value)


def format_money(minor: object, currency: str, locale: str) -> str:
    """4990, 'EUR' → '49,90 €' in German, '€49.90' in English."""
    if not isinstance(minor, int):
        return str(minor)
    return format_currency(minor / 100, currency, locale=BABEL_LOCALES.get(locale, locale))


def format_day(value: object, locale: str) -> str:
    """'2026-03-05' (or a timestamp) → '5. März 2026' / '5 March 2026'."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = value.date()
    return (
        format_date(value, "long", locale=BABEL_LOCALES.get(locale, locale)) if isinstance(value, date) else str(value)
    )


def _unescape(value: str) -> str:
    """Autoescape applies to every block; subject and text parts are not HTML."""
    return html.unescape(value)
