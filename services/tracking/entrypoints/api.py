"""Tracking's internal HTTP API (called by the gateway): order tracking, delivery performance, rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Path, Query
from fastapi.responses import HTMLResponse, JSONResponse

from services.common.envelope import ID_PATTERN
from services.common.http import problem
from services.common.service_app import Runtime
from services.tracking.adapters import intake, reads
from services.tracking.adapters.links import LinkExpired, LinkInvalid, TrackingLinks
from services.tracking.adapters.page import render_message_page, render_tracking_page
from services.tracking.domain.branding import Branding
from services.tracking.domain.carriers import CARRIERS, CarrierPayloadError, parse_payload
from services.tracking.domain.promise import DeliveryRules

OrderId = Annotated[str, Path(pattern=ID_PATTERN)]
Carrier = Annotated[str, Path(pattern=f"^({'|'.join(CARRIERS)})$", description="dhl, dpd, gls, hermes or ups")]


def router(runtime: Runtime, links: TrackingLinks | None = None) -> APIRouter:
    api = APIRouter(prefix="/internal/v1/merchants/{merchant_id}", tags=["tracking"])

    @api.get("/orders/{order_id}/tracking")
    async def order_tracking(merchant_id: str, order_id: OrderId) -> dict[str, Any]:
        """Every parcel of an order: state, promise, estimate, open problems and the scan timeline."""
        result = await reads.order_tracking(runtime.pool, merchant_id, order_id)
        if result is None:
            raise HTTPException(404, "No shipments for this order")
        return result

    @api.get("/tracking/performance")
    async def delivery_performance(
        merchant_id: str,
        since: Annotated[datetime | None, Query(description="Start (inclusive); default 30 days ago.")] = None,
        until: Annotated[datetime | None, Query(description="End (exclusive); default now.")] = None,
    ) -> dict[str, Any]:
        """On-time rate, transit-time percentiles and problem counts by carrier and reason."""
        until = until or datetime.now(UTC)
        since = since or until - timedelta(days=30)
        if since.tzinfo is None or until.tzinfo is None:
            raise HTTPException(422, "since and until need a timezone offset")
        if since >= until:
            raise HTTPException(422, "since must be before until")
        return await reads.performance(runtime.pool, merchant_id, since, until)

    @api.get("/tracking/rules")
    async def get_rules(merchant_id: str) -> dict[str, Any]:
        """The merchant's delivery rules (defaults until saved)."""
        version, rules = await reads.rules_of(runtime.pool, merchant_id)
        return {"version": version, "rules": rules.model_dump(mode="json")}

    @api.put("/tracking/rules")
    async def put_rules(merchant_id: str, rules: DeliveryRules) -> dict[str, Any]:
        """Replace the delivery rules; they apply to promises and checks from the next event on."""
        version = await reads.save_rules(runtime.pool, merchant_id, rules)
        return {"version": version, "rules": rules.model_dump(mode="json")}

    @api.get("/tracking/branding")
    async def get_branding(merchant_id: str) -> dict[str, Any]:
        """How the customer tracking page looks (defaults until saved)."""
        return (await reads.branding_of(runtime.pool, merchant_id)).model_dump(mode="json")

    @api.put("/tracking/branding")
    async def put_branding(merchant_id: str, branding: Branding) -> dict[str, Any]:
        """Shop name, https logo, hex colour, default language and German form of address of the page."""
        await reads.save_branding(runtime.pool, merchant_id, branding)
        return branding.model_dump(mode="json")

    @api.get("/orders/{order_id}/tracking-link")
    async def tracking_link(merchant_id: str, order_id: OrderId) -> dict[str, Any]:
        """The customer's public page for an order (signed, expiring), e.g. for the shop's order confirmation."""
        if links is None:
            raise HTTPException(503, "Tracking links are not configured")
        return {"url": links.url_for(merchant_id, order_id), "expires_in_days": links.max_age_days}

    @api.post("/carriers/{carrier}/scans", status_code=202, response_model=None)
    async def carrier_scans(
        merchant_id: str, carrier: Carrier, payload: Annotated[dict[str, Any], Body()]
    ) -> dict[str, Any] | JSONResponse:
        """A carrier's tracking payload (webhook or API answer, as the carrier documents it): every scan is
        normalised (raw code kept; unknown codes become `unknown`, never dropped) and applied through the stream."""
        try:
            scans = parse_payload(carrier, payload)
        except CarrierPayloadError as exc:
            errors = [{"path": exc.path, "message": exc.message}]
            return problem(422, "Unreadable carrier payload", f"Not a {carrier} tracking payload.", errors=errors)
        return await intake.accept_scans(runtime.pool, runtime.contract, merchant_id, carrier, scans)

    pages = APIRouter(prefix="/internal/v1/tracking-pages", tags=["tracking"])

    @pages.get("/{token}", response_class=HTMLResponse)
    async def tracking_page(token: str, lang: Literal["de", "en"] | None = None) -> HTMLResponse:
        """The customer's tracking page behind a public link: no account, nothing to guess, expires."""
        if links is None:
            raise HTTPException(503, "Tracking links are not configured")
        try:
            merchant_id, order_id = links.read(token)
        except LinkExpired:
            return HTMLResponse(render_message_page(lang or "de", "expired"), status_code=410)
        except LinkInvalid:
            return HTMLResponse(render_message_page(lang or "de", "not_found"), status_code=404)
        branding = await reads.branding_of(runtime.pool, merchant_id)
        view = await reads.order_tracking(runtime.pool, merchant_id, order_id)
        language = lang or branding.language
        if view is None:
            return HTMLResponse(render_message_page(language, "not_found", branding), status_code=404)
        html = render_tracking_page(view, branding, merchant_id, language, token)
        return HTMLResponse(html, headers={"Cache-Control": "private, max-age=60", "X-Robots-Tag": "noindex"})

    root = APIRouter()
    root.include_router(api)
    root.include_router(pages)
    return root
