"""Renders a notification into subject, plain text and HTML with Jinja2's sandbox and autoescape."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel.numbers import format_decimal
from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


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
            autoescape=select_autoescape(enabled_extensions=("j2",), default=True),
            undefined=StrictUndefined,
        )
        self.env.filters["number"] = format_number

    def render(self, template: str, locale: str, context: dict[str, Any]) -> RenderedMessage:
        compiled = self.env.get_template(f"{template}.{locale}.j2")
        ctx = compiled.new_context({**context, "locale": locale})

        def block(name: str) -> str:
            return "".join(compiled.blocks[name](ctx)).strip()

        # The subject goes into a header: no HTML escaping there, and no line breaks (header injection).
        subject = " ".join(block("subject").split())
        return RenderedMessage(subject=_unescape(subject), text=_unescape(block("text")), html=block("html"))


def format_number(value: object, locale: str) -> str:
    """1234 → '1.234' in German, '1,234' in English (Babel's CLDR data)."""
    return format_decimal(value, locale=locale) if isinstance(value, int | float) else str(value)


def _unescape(value: str) -> str:
    """Autoescape applies to every block; subject and text parts are not HTML."""
    return html.unescape(value)
