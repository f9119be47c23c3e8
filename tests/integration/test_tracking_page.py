"""The customer tracking page in headless Chromium: branded, bilingual, apologising when late; links that
cannot be guessed and expire. Set RETENTION_WRITE_SCREENSHOTS=1 to refresh the screenshots in docs/."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from services.common.http import install_problem_handlers
from services.common.migrations import apply_migrations, migrations_for
from services.platform.infra import free_port
from services.tracking.adapters.links import TrackingLinks
from services.tracking.bootstrap import SPEC as TRACKING
from services.tracking.entrypoints.api import router
from tests.browser import chromium
from tests.tracking_events import created, placed, scan
from tests.tracking_service import TrackingService

pytestmark = pytest.mark.integration

DOCS = Path(__file__).resolve().parents[2] / "docs"
MON = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def page_server(schema_pool, producer, kernel_metrics, merchant_id):
    schema, pool = schema_pool
    await apply_migrations(pool, schema, migrations_for(TRACKING.migrations))
    port = free_port()
    links = TrackingLinks("test-secret-for-links", f"http://127.0.0.1:{port}")

    class Runtime:
        pass

    Runtime.pool = pool
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router(Runtime(), links))  # type: ignore[arg-type]

    @app.get("/t/{token}")  # what the gateway does: the public path in front of the internal page
    async def public(token: str, lang: str | None = None):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://i") as http:
            inner = await http.get(f"/internal/v1/tracking-pages/{token}", params={"lang": lang} if lang else None)
        from fastapi.responses import HTMLResponse

        return HTMLResponse(inner.text, status_code=inner.status_code)

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    for _ in range(200):  # up to 10 s
        if server.started:
            break
        await asyncio.sleep(0.05)
    assert server.started, "the page server did not start"
    tracking = TrackingService(pool, producer, kernel_metrics, merchant_id, links)
    try:
        yield tracking, links, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_a_late_split_order_page_in_german_and_english(page_server) -> None:
    tracking, _, base = page_server
    await tracking.pool.execute(
        "INSERT INTO branding (merchant_id, config) VALUES ($1, $2)",
        tracking.merchant_id,
        {"shop_name": "Schuhhaus Müller", "colour": "#0b7a75", "support_email": "hilfe@schuhhaus.example"},
    )
    await tracking.deliver(
        placed("o-4711", MON, lines=("L1", "L2")),
        created("s1", "o-4711", MON, lines=("L1",), promised=date(2026, 3, 4)),
        scan("s1", "o-4711", "in_transit", MON + timedelta(hours=5), location={"city": "Dortmund", "country": "DE"}),
        scan("s1", "o-4711", "delivered", MON + timedelta(days=1, hours=3), location={"city": "Köln", "country": "DE"}),
        created("s2", "o-4711", MON, lines=("L2",), promised=date(2026, 3, 4), carrier="dpd"),
        scan("s2", "o-4711", "in_transit", MON + timedelta(hours=8), carrier="dpd"),
    )
    await tracking.run_checks(datetime(2026, 3, 5, 8, 0, tzinfo=UTC))  # the promise passed: late
    shipped = [e for e in await tracking.emitted("notification.requested") if e.data["message"] == "shipped"]
    url = shipped[0].data["variables"]["tracking_page_url"]  # the link customers get in the shipping mail
    assert url.startswith(f"{base}/t/") and "o-4711" not in url

    def look(lang: str | None, shot: Path | None) -> dict[str, object]:
        with chromium() as browser:
            browser.get(url + (f"?lang={lang}" if lang else ""))
            facts = browser.execute_script(
                """
                const q = (s) => document.querySelector(s);
                return {
                  lang: document.documentElement.lang,
                  shop: q('header .shop').textContent,
                  apology: q('#apology') ? q('#apology').innerText : null,
                  statuses: [...document.querySelectorAll('.status')].map(e => e.textContent),
                  steps: document.querySelectorAll('ol.timeline li').length,
                  brand: getComputedStyle(q('header')).backgroundColor,
                  overflow: document.documentElement.scrollWidth > window.innerWidth,
                  footer: q('footer').textContent.trim(),
                };
                """
            )
            if shot is not None:
                browser.set_window_size(390, browser.execute_script("return document.body.scrollHeight") + 40)
                browser.save_screenshot(str(shot))
            return facts

    shots = DOCS if os.environ.get("RETENTION_WRITE_SCREENSHOTS") else None
    german = await asyncio.to_thread(look, None, shots / "tracking-page-de.png" if shots else None)
    english = await asyncio.to_thread(look, "en", shots / "tracking-page-en.png" if shots else None)
    assert german["lang"] == "de" and german["shop"] == "Schuhhaus Müller"
    assert german["statuses"] == ["Zugestellt", "Unterwegs"] and german["steps"] == 3
    assert "Es tut uns leid: Ihr Paket kommt später als zugesagt." in german["apology"]
    assert "Donnerstag, 5. März 2026" in german["apology"]  # the new estimate, in German
    assert german["brand"] == "rgb(11, 122, 117)" and german["overflow"] is False
    assert german["footer"] == "Fragen? Schreiben Sie uns an hilfe@schuhhaus.example."
    assert english["statuses"] == ["Delivered", "On its way"]
    assert "We are sorry: your parcel is later than promised." in english["apology"]
    assert "Thursday, 5 March 2026" in english["apology"]


async def test_forged_and_expired_links_show_nothing(page_server) -> None:
    tracking, links, base = page_server
    await tracking.deliver(created("s1", "o-1", MON, promised=date(2026, 3, 4)))
    good = links.token(tracking.merchant_id, "o-1")
    other_merchant = links.token("someone-else", "o-1")
    forged = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    stranger = TrackingLinks("another-secret", base).token(tracking.merchant_id, "o-1")
    async with httpx.AsyncClient(base_url=base) as http:
        assert (await http.get(f"/t/{good}")).status_code == 200
        for token in (forged, stranger, "x" * 40):
            page = await http.get(f"/t/{token}")
            assert page.status_code == 404 and "o-1" not in page.text
        assert (await http.get(f"/t/{other_merchant}")).status_code == 404  # signed, but no such order there
        gone = await http.get(f"/t/{signed_days_ago(links, tracking.merchant_id, 'o-1', 121)}", params={"lang": "en"})
        assert gone.status_code == 410 and "This link has expired" in gone.text
        assert (await http.get(f"/t/{signed_days_ago(links, tracking.merchant_id, 'o-1', 119)}")).status_code == 200


def signed_days_ago(links: TrackingLinks, merchant_id: str, order_id: str, days: int) -> str:
    """A genuine token as if issued `days` ago (the signer's clock moved back, not the test's)."""

    class Past(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - days * 86_400

    serializer = URLSafeTimedSerializer(links.secret, salt="retention.tracking-page.v1", signer=Past)
    return serializer.dumps([merchant_id, order_id])
