"""A merchant's own template is checked when saved: what would fail or reach outside the facts is refused."""

from __future__ import annotations

import pytest

from services.notifications.adapters.custom_templates import TemplateDraft, check, default_draft
from services.notifications.adapters.rendering import Renderer
from services.notifications.domain.examples import EXAMPLE_FACTS
from services.notifications.domain.messages import template_context

pytestmark = pytest.mark.unit

GOOD = TemplateDraft(
    subject="{{ points|number(locale) }} Punkte für dich",
    text="{{ greeting }}\n\ndanke! Stand: {{ balance|number(locale) }} Punkte.\n\n{{ sign_off }}\n{{ merchant_name }}",
    html="<p>{{ greeting }}</p><p>danke! Stand: <b>{{ balance|number(locale) }}</b> Punkte.</p>",
)


def problems(draft: TemplateDraft, message: str = "points_earned", locale: str = "de") -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in check(Renderer(), message, locale, draft)]


def test_a_good_template_passes_and_renders_in_the_merchants_words() -> None:
    assert problems(GOOD) == []
    context = template_context(EXAMPLE_FACTS["points_earned"], "Anna", "Schuhhaus")
    rendered = Renderer().render("points_earned", "de", context, source=GOOD.source())
    assert rendered.subject == "50 Punkte für dich" and "Stand: 1.250 Punkte." in rendered.text
    assert "<b>1.250</b>" in rendered.html and "Schuhhaus" in rendered.html  # inside the platform's frame


def test_every_default_template_passes_its_own_check() -> None:
    for message in EXAMPLE_FACTS:
        for locale in ("de", "en"):
            assert problems(default_draft(message, locale), message, locale) == [], (message, locale)


@pytest.mark.parametrize(
    ("part", "source", "expected"),
    [
        ("subject", "{{ ''.__class__.__mro__ }}", "attribute `__class__` is not allowed"),
        ("text", "{{ points|attr('__class__') }}", "the `attr` filter is not allowed"),
        ("text", "{{ points['__class__'] }}", "key `__class__` is not allowed"),
        ("html", "{% include '_page.html.j2' %}", "`include` is not allowed"),
        ("text", "{% endblock %}{% block subject %}x", "line 1"),  # breaking out of the part: a syntax error
        ("text", "{{ greeting }} {{ pionts }}", "unknown variable(s) pionts"),
        ("subject", "{{ points | nosuchfilter }}", "No filter named 'nosuchfilter'"),
        ("text", "{% for x in points %}{% endfor %", "line 1"),
    ],
)
def test_unsafe_or_broken_templates_are_refused_with_the_part_and_reason(part: str, source: str, expected: str) -> None:
    found = problems(GOOD.model_copy(update={part: source}))
    assert found and any(path == part and expected in message for path, message in found), found


def test_a_template_that_fails_with_the_example_facts_is_refused() -> None:
    failing = GOOD.model_copy(update={"text": "{{ (points / 0) }}"})
    ((path, message),) = problems(failing)
    assert path == "" and "ZeroDivisionError" in message


def test_customer_data_stays_inert_in_a_merchant_template() -> None:
    context = template_context(EXAMPLE_FACTS["points_earned"], "{{7*7}}<img src=x onerror=alert(1)>", "S")
    rendered = Renderer().render("points_earned", "de", context, source=GOOD.source())
    assert "{{7*7}}" in rendered.text and "49" not in rendered.text.split("\n")[0]
    assert "<img" not in rendered.html and "&lt;img" in rendered.html
