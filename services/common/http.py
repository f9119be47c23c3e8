"""Endpoints and middleware every process exposes: /healthz, /readyz, /metrics, request ids, problems."""

from __future__ import annotations

import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.logs import log_context

if TYPE_CHECKING:
    from services.common.service_app import Runtime

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


def problem(
    status: int,
    title: str,
    detail: str = "",
    *,
    errors: list[dict[str, Any]] | None = None,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An RFC 9457 problem response; `errors` carries field paths for validation failures."""
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'events', 0, 'data', 'lines', 2, 'quantity') -> 'events[0].data.lines[2].quantity'."""
    path = ""
    for part in loc:
        if part in ("body", "query", "path", "header") and not path:
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"path": field_path(e["loc"]), "message": e["msg"]} for e in exc.errors()]
        return problem(422, "Validation failed", "The request does not match the schema.", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


def install_observability(app: FastAPI, runtime: Runtime) -> None:
    install_problem_handlers(app)
    metrics = runtime.metrics

    @app.middleware("http")
    async def _observe(request: Request, call_next: Any) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        token = log_context.set({"request_id": request_id})
        started = time.perf_counter()
        try:
            response: Response = await call_next(request)
        finally:
            log_context.reset(token)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        metrics.http_requests.labels(runtime.service, template, request.method, str(response.status_code)).inc()
        metrics.http_duration.labels(runtime.service, template, request.method).observe(time.perf_counter() - started)
        response.headers["x-request-id"] = request_id
        return response

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """Liveness: the process serves requests."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        """Readiness: started, and the database answers."""
        if not runtime.ready or runtime.pool is None:
            return problem(503, "Not ready", "The service is still starting or stopping.")
        try:
            await runtime.pool.fetchval("SELECT 1", timeout=2)
        except Exception as exc:
            return problem(503, "Not ready", f"database: {exc.__class__.__name__}")
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(runtime.registry), media_type=CONTENT_TYPE_LATEST)
