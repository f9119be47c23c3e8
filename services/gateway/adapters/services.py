"""Calls to the services' internal HTTP APIs: timeouts, a retry on idempotent reads, clear 503s."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import HTTPException
from fastapi.responses import JSONResponse, Response
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

TRANSPORT_ERRORS = (httpx.TransportError,)


class ServiceClient:
    def __init__(self, urls: dict[str, str], *, timeout_s: float = 3.0) -> None:
        self.urls = urls
        self.http = httpx.AsyncClient(timeout=timeout_s)

    async def close(self) -> None:
        await self.http.aclose()

    async def get(self, service: str, path: str) -> dict[str, Any]:
        """GET from a service; its 404 becomes ours, an unreachable service becomes a 503 problem."""
        url = self.urls[service] + path
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(TRANSPORT_ERRORS),
                stop=stop_after_attempt(3),
                wait=wait_exponential(multiplier=0.05, max=0.5),
                reraise=True,
            ):
                with attempt:
                    response = await self.http.get(url)
        except TRANSPORT_ERRORS as exc:
            raise HTTPException(503, f"The {service} service is unavailable; try again shortly") from exc
        if response.status_code == 404:
            raise HTTPException(404, response.json().get("title", "Not found"))
        if response.status_code >= 500:
            raise HTTPException(503, f"The {service} service failed; try again shortly")
        response.raise_for_status()
        return response.json()

    async def page(
        self, service: str, path: str, params: dict[str, Any] | None = None, *, method: str = "GET"
    ) -> Response:
        """A public HTML page a service renders (tracking page, unsubscribe), passed through as it is.

        Only GETs are retried: a POST (an unsubscribe click) that timed out may have been applied, and is
        harmless to repeat by hand.
        """
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(TRANSPORT_ERRORS),
                stop=stop_after_attempt(3 if method == "GET" else 1),
                wait=wait_exponential(multiplier=0.05, max=0.5),
                reraise=True,
            ):
                with attempt:
                    response = await self.http.request(method, self.urls[service] + path, params=params)
        except TRANSPORT_ERRORS as exc:
            raise HTTPException(503, f"The {service} service is unavailable; try again shortly") from exc
        if response.status_code >= 500:
            raise HTTPException(503, f"The {service} service failed; try again shortly")
        passed = {k: v for k, v in response.headers.items() if k.lower() in ("cache-control", "x-robots-tag")}
        return Response(
            response.content,
            status_code=response.status_code,
            media_type=response.headers.get("content-type", "text/html; charset=utf-8"),
            headers=passed,
        )

    async def send(
        self,
        method: str,
        service: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Response:
        """A mutating (or paged) call: the service's own answer, its problem+json included, is passed through.

        No retry: a POST that timed out may have been applied; the caller retries with its idempotency key.
        """
        try:
            response = await self.http.request(method, self.urls[service] + path, json=json, params=params)
        except TRANSPORT_ERRORS as exc:
            raise HTTPException(503, f"The {service} service is unavailable; try again shortly") from exc
        if response.status_code >= 500:
            raise HTTPException(503, f"The {service} service failed; try again shortly")
        if response.status_code == 204:
            return Response(status_code=204)
        return JSONResponse(
            response.json(),
            status_code=response.status_code,
            media_type=response.headers.get("content-type", "application/json"),
        )
