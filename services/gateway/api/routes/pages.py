"""Public pages for shoppers (no API key; the signed link is the credential): the order tracking page, the
unsubscribe page of marketing mails and the double opt-in confirmation of a newsletter sign-up."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from services.gateway.api.deps import RATE_LIMITED, PublicRateLimit, RuntimeDep

router = APIRouter(tags=["pages"], dependencies=[PublicRateLimit], responses=RATE_LIMITED)
Token = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{20,400}$", description="The signed token of the link")]


@router.get("/t/{token}", response_class=Response, include_in_schema=True)
async def tracking_page(
    token: Token,
    runtime: RuntimeDep,
    lang: Annotated[Literal["de", "en"] | None, Query(description="Page language; default the shop's")] = None,
) -> Response:
    """The branded tracking page of one order, in German or English (the link comes in the shipping mail)."""
    params = {"lang": lang} if lang else None
    return await runtime.extras["services"].page("tracking", f"/internal/v1/tracking-pages/{token}", params)


@router.get("/u/{token}", response_class=Response)
async def unsubscribe_page(token: Token, runtime: RuntimeDep) -> Response:
    """The unsubscribe link of a marketing mail: a page that asks first (link scanners open every GET)."""
    return await runtime.extras["services"].page("notifications", f"/internal/v1/unsubscribe/{token}")


@router.post("/u/{token}", response_class=Response)
async def unsubscribe(token: Token, runtime: RuntimeDep) -> Response:
    """RFC 8058 one-click unsubscribe (`List-Unsubscribe=One-Click`), and the page's button."""
    return await runtime.extras["services"].page("notifications", f"/internal/v1/unsubscribe/{token}", method="POST")


@router.get("/c/{token}", response_class=Response)
async def opt_in_page(token: Token, runtime: RuntimeDep) -> Response:
    """The double opt-in link of a newsletter sign-up: a page that asks first (link scanners open every GET)."""
    return await runtime.extras["services"].page("notifications", f"/internal/v1/opt-in/{token}")


@router.post("/c/{token}", response_class=Response)
async def confirm_opt_in(token: Token, runtime: RuntimeDep) -> Response:
    """The page's button: e-mail marketing consent from now on, with the click as its proof."""
    return await runtime.extras["services"].page("notifications", f"/internal/v1/opt-in/{token}", method="POST")
