"""Public pages for shoppers (no API key; the signed link is the credential): the order tracking page, the
unsubscribe page of marketing mails and the double opt-in confirmation of a newsletter sign-up."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, Response

from services.gateway.api.deps import (
    RATE_LIMITED,
    PublicRateLimit,
    RuntimeDep,
    example_response,
    html_responses,
    problem_responses,
)

#: Every page: the link's page, or a page saying the link is not (any more) valid; a malformed token is a 422 problem.
PAGES = RATE_LIMITED | problem_responses(422, 503) | html_responses({404: "The link is not valid (forged, or unknown)"})
router = APIRouter(tags=["pages"], dependencies=[PublicRateLimit], responses=PAGES)
Token = Annotated[
    str,
    Path(
        pattern=r"^[A-Za-z0-9_.-]{20,400}$",
        description="The signed token of the link",
        examples=["WyJrYWZmZWUiLCJvLTEwMDIzNCJd.awcnRQ.MgL9s3cK896-jNYZQNTyM6qrRBQ"],
    ),
]


def page(body: str) -> dict[int | str, dict[str, Any]]:
    """For the OpenAPI document: an example of a page (abridged)."""
    html = f'<!doctype html><html lang="de"><head><meta charset="utf-8">…</head><body>{body}</body></html>'
    return example_response(200, html, media_type="text/html")


TRACKING_PAGE = page("<h1>Kaffeerösterei Dortmund</h1><p>Deine Bestellung 10023451 ist unterwegs mit DHL.</p>…")
UNSUBSCRIBE_PAGE = page(
    '<form method="post"><p>Keine Werbe-E-Mails mehr von uns erhalten?</p><button>Abmelden</button></form>'
)
UNSUBSCRIBED_PAGE = page("<p>Du bist abgemeldet: keine Werbe-E-Mails mehr.</p>")
OPT_IN_PAGE = page('<form method="post"><p>Newsletter bestätigen?</p><button>Ja, bestätigen</button></form>')
OPTED_IN_PAGE = page("<p>Danke, du bist angemeldet.</p>")


@router.get(
    "/t/{token}", response_class=HTMLResponse, responses=TRACKING_PAGE | html_responses({410: "The link has expired"})
)
async def tracking_page(
    token: Token,
    runtime: RuntimeDep,
    lang: Annotated[Literal["de", "en"] | None, Query(description="Page language; default the shop's")] = None,
) -> Response:
    """The branded tracking page of one order, in German or English (the link comes in the shipping mail)."""
    params = {"lang": lang} if lang else None
    return await runtime.extras["services"].page("tracking", f"/internal/v1/tracking-pages/{token}", params)


@router.get("/u/{token}", response_class=HTMLResponse, responses=UNSUBSCRIBE_PAGE)
async def unsubscribe_page(token: Token, runtime: RuntimeDep) -> Response:
    """The unsubscribe link of a marketing mail: a page that asks first (link scanners open every GET)."""
    return await runtime.extras["services"].page("notifications", f"/internal/v1/unsubscribe/{token}")


@router.post("/u/{token}", response_class=HTMLResponse, responses=UNSUBSCRIBED_PAGE)
async def unsubscribe(token: Token, runtime: RuntimeDep) -> Response:
    """RFC 8058 one-click unsubscribe (`List-Unsubscribe=One-Click`), and the page's button."""
    return await runtime.extras["services"].page("notifications", f"/internal/v1/unsubscribe/{token}", method="POST")


@router.get("/c/{token}", response_class=HTMLResponse, responses=OPT_IN_PAGE)
async def opt_in_page(token: Token, runtime: RuntimeDep) -> Response:
    """The double opt-in link of a newsletter sign-up: a page that asks first (link scanners open every GET)."""
    return await runtime.extras["services"].page("notifications", f"/internal/v1/opt-in/{token}")


@router.post(
    "/c/{token}",
    response_class=HTMLResponse,
    responses=OPTED_IN_PAGE | html_responses({410: "The sign-up has expired"}),
)
async def confirm_opt_in(token: Token, runtime: RuntimeDep) -> Response:
    """The page's button: e-mail marketing consent from now on, with the click as its proof."""
    return await runtime.extras["services"].page("notifications", f"/internal/v1/opt-in/{token}", method="POST")
