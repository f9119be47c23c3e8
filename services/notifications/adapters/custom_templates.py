"""A merchant's own wording for a message: checked before it is saved, rendered in the same sandbox.

A merchant writes the three parts of a default template (subject, text, html body); greeting, sign-off,
footer and the branded frame stay the platform's. Saving refuses what would fail or leak later:

- syntax errors, with the line;
- anything that reaches outside the facts: attributes or keys starting with `_` (`''.__class__`), the `attr`
  filter, `include`/`import`/`extends`/blocks/macros (no reading other templates, no breaking the part out);
- variables the message never carries (a typo would otherwise render as an error at sending time);
- anything that fails when tried with the message's example facts, formal and informal, in its language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from jinja2 import TemplateSyntaxError, meta, nodes
from pydantic import BaseModel, ConfigDict, Field

from services.notifications.adapters.rendering import TEMPLATES, Renderer
from services.notifications.domain.examples import EXAMPLE_FACTS
from services.notifications.domain.messages import template_context

PARTS = ("subject", "text", "html")
#: Always there besides the message's own facts (see Renderer.render and template_context).
COMMON_VARIABLES = frozenset(
    {"greeting", "sign_off", "merchant_name", "first_name", "last_name", "salutation", "formal", "locale",
     "legal_footer", "brand_colour", "brand_logo_url", "country", "region_note"}
)  # fmt: skip
_FORBIDDEN = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport, nodes.Block, nodes.Macro, nodes.CallBlock)


class TemplateDraft(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=2_000)  # template source: both German forms, conditions
    text: str = Field(min_length=1, max_length=20_000)
    html: str = Field(min_length=1, max_length=100_000)

    def source(self) -> str:
        """One template with the three blocks the renderer reads; each part was checked to hold no block tags."""
        return "".join(f"{{% block {part} %}}{getattr(self, part)}{{% endblock %}}\n" for part in PARTS)


@dataclass(frozen=True)
class TemplateProblem:
    path: str
    message: str


def default_draft(message: str, locale: str) -> TemplateDraft:
    """The platform's wording of a message, as a starting point to edit."""
    source = (TEMPLATES / f"{message}.{locale}.j2").read_text(encoding="utf-8")
    parts = {p: re.search(rf"{{% block {p} %}}(.*?){{% endblock %}}", source, re.S) for p in PARTS}
    return TemplateDraft(**{p: m.group(1) if m else "" for p, m in parts.items()})


def allowed_variables(message: str, locale: str) -> set[str]:
    facts = template_context(EXAMPLE_FACTS[message], "Anna", "Shop")
    localized = facts.get("localized") or {}
    return set(facts) | set(localized.get(locale, {})) | COMMON_VARIABLES


def check(renderer: Renderer, message: str, locale: str, draft: TemplateDraft) -> list[TemplateProblem]:
    problems: list[TemplateProblem] = []
    allowed = allowed_variables(message, locale)
    for part in PARTS:
        try:
            tree = renderer.env.parse(getattr(draft, part))
            undeclared = meta.find_undeclared_variables(tree)  # compiles: unknown filters and tests show here
        except TemplateSyntaxError as exc:  # TemplateAssertionError included
            problems.append(TemplateProblem(part, f"line {exc.lineno}: {exc.message}"))
            continue
        problems += [TemplateProblem(part, reason) for reason in _unsafe(tree)]
        unknown = sorted(undeclared - allowed)
        if unknown:
            problems.append(
                TemplateProblem(
                    part, f"unknown variable(s) {', '.join(unknown)}; available: {', '.join(sorted(allowed))}"
                )
            )
    if problems:
        return problems
    for formal in (False, True):
        context = template_context(
            EXAMPLE_FACTS[message], "Anna", "Shop", last_name="Schmidt", salutation="frau", formal=formal
        )
        try:
            renderer.render(message, locale, context, source=draft.source())
        except Exception as exc:  # the sandbox's SecurityError, an undefined fact, a failing filter
            return [TemplateProblem("", f"fails with the example facts: {exc.__class__.__name__}: {exc}")]
    return []


def _unsafe(tree: nodes.Template) -> list[str]:
    reasons = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter, *_FORBIDDEN)):
        if isinstance(node, _FORBIDDEN):
            reasons.append(f"line {node.lineno}: `{type(node).__name__.lower()}` is not allowed in a message")
        elif isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            reasons.append(f"line {node.lineno}: attribute `{node.attr}` is not allowed")
        elif isinstance(node, nodes.Getitem) and _private_key(node.arg):
            reasons.append(f"line {node.lineno}: key `{node.arg.value}` is not allowed")  # type: ignore[attr-defined]
        elif isinstance(node, nodes.Filter) and node.name == "attr":
            reasons.append(f"line {node.lineno}: the `attr` filter is not allowed")
    return reasons


def _private_key(arg: Any) -> bool:
    return isinstance(arg, nodes.Const) and isinstance(arg.value, str) and arg.value.startswith("_")


async def saved_drafts(
    conn: asyncpg.Pool | asyncpg.Connection, keys: set[tuple[str, str, str]]
) -> dict[tuple[str, str, str], TemplateDraft]:
    """(merchant, message, locale) → the merchant's wording, for those that have one."""
    if not keys:
        return {}
    rows = await conn.fetch(
        "SELECT t.* FROM merchant_templates t JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(m, msg, loc) "
        "ON t.merchant_id = k.m AND t.message = k.msg AND t.locale = k.loc",
        *[list(column) for column in zip(*sorted(keys), strict=True)],
    )
    return {
        (r["merchant_id"], r["message"], r["locale"]): TemplateDraft(
            subject=r["subject"], text=r["text"], html=r["html"]
        )
        for r in rows
    }


async def save_draft(pool: asyncpg.Pool, merchant_id: str, message: str, locale: str, draft: TemplateDraft) -> None:
    await pool.execute(
        "INSERT INTO merchant_templates (merchant_id, message, locale, subject, text, html) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (merchant_id, message, locale) DO UPDATE SET "
        "subject = EXCLUDED.subject, text = EXCLUDED.text, html = EXCLUDED.html, updated_at = now()",
        merchant_id,
        message,
        locale,
        draft.subject,
        draft.text,
        draft.html,
    )


async def reset_draft(pool: asyncpg.Pool, merchant_id: str, message: str, locale: str) -> bool:
    result = await pool.execute(
        "DELETE FROM merchant_templates WHERE merchant_id = $1 AND message = $2 AND locale = $3",
        merchant_id,
        message,
        locale,
    )
    return result != "DELETE 0"


async def customised(pool: asyncpg.Pool, merchant_id: str) -> dict[tuple[str, str], datetime]:
    rows = await pool.fetch(
        "SELECT message, locale, updated_at FROM merchant_templates WHERE merchant_id = $1", merchant_id
    )
    return {(r["message"], r["locale"]): r["updated_at"] for r in rows}
