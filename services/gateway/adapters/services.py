"""Calls to the services' internal HTTP APIs: timeouts, a retry on idempotent reads, clear 503s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import HTTPException
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

TRANSPORT_ERRORS = (httpx.TransportError,)
#: Response headers of a service that mean something to the merchant and are passed on (lowercase).
PASSED_HEADERS = ("etag",)
#: ... and of a streamed download.
STREAMED_HEADERS = ("etag", "content-disposition", "cache-control")


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
        headers: dict[str, str] | None = None,
    ) -> Response:
        """A mutating (or paged) call: the service's own answer, its problem+json included, is passed through.

        `headers` go to the service (a merchant's `If-Match`); of the answer's headers, the `ETag` comes back.
        No retry: a POST that timed out may have been applied; the caller retries with its idempotency key.
        """
        try:
            response = await self.http.request(
                method, self.urls[service] + path, json=json, params=params, headers=headers
            )
        except TRANSPORT_ERRORS as exc:
            raise HTTPException(503, f"The {service} service is unavailable; try again shortly") from exc
        if response.status_code >= 500:
            raise HTTPException(503, f"The {service} service failed; try again shortly")
        passed = {k: v for k, v in response.headers.items() if k.lower() in PASSED_HEADERS}
        if response.status_code == 204:
            return Response(status_code=204, headers=passed)
        return JSONResponse(
            response.json(),
            status_code=response.status_code,
            media_type=response.headers.get("content-type", "application/json"),
            headers=passed,
        )

    async def stream(self, service: str, path: str, *, params: dict[str, Any] | None = None) -> Response:
        """A GET whose body (a CSV download) is streamed through chunk by chunk, never held whole in memory.

        A problem (4xx) is passed through like `send` does; a 5xx or an unreachable service is our 503 problem. Once
        the first byte is sent the status is out: a service that fails mid-way leaves a truncated download.
        """
        request = self.http.build_request("GET", self.urls[service] + path, params=params)
        try:
            response = await self.http.send(request, stream=True)
        except TRANSPORT_ERRORS as exc:
            raise HTTPException(503, f"The {service} service is unavailable; try again shortly") from exc
        if response.status_code >= 300:
            try:
                body = await response.aread()
            except TRANSPORT_ERRORS as exc:
                raise HTTPException(503, f"The {service} service is unavailable; try again shortly") from exc
            finally:
                await response.aclose()
            if response.status_code >= 500:
                raise HTTPException(503, f"The {service} service failed; try again shortly")
            return Response(
                body,
                status_code=response.status_code,
                media_type=response.headers.get("content-type", "application/problem+json"),
            )

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in response.aiter_bytes():
                    yield chunk
            finally:  # also when the merchant hangs up mid-download: the connection goes back to the pool
                await response.aclose()

        return StreamingResponse(
            chunks(),
            status_code=response.status_code,
            media_type=response.headers.get("content-type", "application/octet-stream"),
            headers={k: v for k, v in response.headers.items() if k.lower() in STREAMED_HEADERS},
            background=BackgroundTask(response.aclose),
        )
