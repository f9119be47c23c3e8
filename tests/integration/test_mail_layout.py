"""Every default mail's HTML in headless Chromium, at phone and desktop width: nothing overflows sideways, the
merchant's frame (name or logo, colour, legal footer) and every paragraph are there and readable.
Set RETENTION_WRITE_SCREENSHOTS=1 to refresh the screenshots in docs/."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from services.notifications.adapters.rendering import TEMPLATES, Renderer
from services.notifications.domain.examples import EXAMPLE_FACTS
from services.notifications.domain.messages import template_context
from tests.browser import chromium
from tests.unit.test_notification_catalogue import LOYALTY_FACTS, tracking_requests
from tests.unit.test_notification_flows import NEW_MESSAGES, facts_for

pytestmark = pytest.mark.integration

DOCS = Path(__file__).resolve().parents[2] / "docs"
FOOTER = "Schuhhaus Müller GmbH · Hauptstraße 1 · 44135 Dortmund · HRB 12345 · USt-IdNr. DE123456789"
SHOTS = {("delay_apology", "de"): "mail-delay-apology-de.png", ("win_back", "en"): "mail-win-back-en.png"}


def all_facts() -> dict[str, dict]:
    facts = {m: {**d.get("variables", {}), **{k: d[k] for k in ("order_id", "shipment_id") if k in d}}
             for m, d in tracking_requests().items()}  # fmt: skip
    facts.update(LOYALTY_FACTS)
    facts.update({m: facts_for(m, "de") for m in NEW_MESSAGES})
    facts["delay_apology"] = {**facts["delay_apology"], "goodwill_points": 50}
    facts["order_received"] = {"order_number": "10023", "total_minor": 12990, "currency": "EUR", "items": 3}
    facts["cart_reminder"] = {"recovery_url": "https://shop.example/cart/1", "total_minor": 4990, "currency": "EUR",
                              "items": 1}  # fmt: skip
    facts["review_request"] = {"order_number": "10023"}
    facts["opt_in_confirmation"] = EXAMPLE_FACTS["opt_in_confirmation"]
    return facts


def test_every_default_mail_lays_out_at_phone_and_desktop_width(tmp_path: Path) -> None:
    messages = sorted({p.name.split(".")[0] for p in TEMPLATES.glob("*.j2") if not p.name.startswith("_")})
    facts = all_facts()
    assert set(messages) == set(facts), "a template without facts to render it with (or the reverse)"
    renderer, pages = Renderer(), []
    for message in messages:
        for locale in ("de", "en"):
            context = template_context(
                facts[message], "Anna", "Schuhhaus Müller", legal_footer=FOOTER, brand_colour="#7a1f3d"
            )
            rendered = renderer.render(message, locale, context)
            page = tmp_path / f"{message}.{locale}.html"
            page.write_text(rendered.html, encoding="utf-8")
            pages.append((message, locale, page))

    shots = DOCS if os.environ.get("RETENTION_WRITE_SCREENSHOTS") else None
    problems = []
    for width in (390, 800):
        with chromium(width=width, height=900) as browser:
            for message, locale, page in pages:
                browser.get(page.as_uri())
                seen = browser.execute_script(
                    """
                    const card = document.querySelector('table table');
                    const cells = [...card.querySelectorAll('td')];
                    return {
                      lang: document.documentElement.lang,
                      overflow: document.documentElement.scrollWidth > window.innerWidth,
                      viewport: window.innerWidth,
                      cardWidth: card.getBoundingClientRect().width,
                      accent: getComputedStyle(card).borderTopColor,
                      header: cells[0].innerText.trim(),
                      footer: cells[cells.length - 1].innerText.trim(),
                      paragraphs: [...card.querySelectorAll('p')].map(p => ({
                        text: p.innerText.trim(),
                        height: p.getBoundingClientRect().height,
                        fontSize: parseFloat(getComputedStyle(p).fontSize),
                      })),
                    };
                    """
                )
                where = f"{message}.{locale} at {width}px"
                if seen["overflow"] or seen["cardWidth"] > min(600, seen["viewport"]):
                    problems.append(f"{where}: wider than the screen ({seen['cardWidth']}px of {seen['viewport']})")
                if seen["lang"] != locale or seen["accent"] != "rgb(122, 31, 61)":
                    problems.append(f"{where}: lang {seen['lang']}, accent {seen['accent']}")
                if seen["header"] != "Schuhhaus Müller" or seen["footer"] != FOOTER:
                    problems.append(f"{where}: frame {seen['header']!r} / {seen['footer']!r}")
                paragraphs = seen["paragraphs"]
                if len(paragraphs) < 3 or any(not p["text"] or p["height"] <= 0 for p in paragraphs):
                    problems.append(f"{where}: an empty or hidden paragraph {paragraphs}")
                if any(p["fontSize"] < 14 for p in paragraphs):
                    problems.append(f"{where}: text smaller than 14px")
                if not paragraphs[0]["text"].startswith("Hallo Anna," if locale == "de" else "Hello Anna,"):
                    problems.append(f"{where}: greeting {paragraphs[0]['text']!r}")
                if shots is not None and width == 390 and (message, locale) in SHOTS:
                    save_full_page(browser, shots / SHOTS[(message, locale)])
    assert not problems, "\n".join(problems)


def save_full_page(browser, path: Path) -> None:
    """The whole mail, not just the window (Chrome DevTools' capture beyond the viewport)."""
    size = browser.execute_script("return [window.innerWidth, document.documentElement.scrollHeight]")
    clip = {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}
    shot = browser.execute_cdp_cmd("Page.captureScreenshot", {"captureBeyondViewport": True, "clip": clip})
    path.write_bytes(base64.b64decode(shot["data"]))
