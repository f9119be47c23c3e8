"""Calls to the services' internal HTTP APIs: timeouts, retries on idempotent reads, clear 503s.

- Timeouts: every call has a budget, `timeout_s` (3 s) by default; the reads known to be slow (the KPIs, an audience
  CSV, a privacy export) get `slow_timeout_s` (30 s) instead. Connecting always has the short budget, so a service
  that is down is found out quickly whatever the call.
- Retries: a GET or HEAD is tried up to `attempts` (3) times when the connection fails, the call times out, or the
  service answers 502, 503 or 504 (restarting, or no healthy instance behind its proxy), waiting about 50 ms and
  then 100 ms in between: well under one call's budget. A mutating call (POST, PUT, PATCH, DELETE) is never retried
  here: it may have been applied although its answer was lost; the merchant retries it with its Idempotency-Key.
- Failures: a service that stays unreachable, times out, or fails (5xx) becomes our 503 problem naming the service,
  with `Retry-After`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import HTTPException
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

log = logging.getLogger(__name__)

TRANSPORT_ERRORS = (httpx.TransportError,)  # connection failures and timeouts (httpx.TimeoutException) alike
#: Methods that change nothing at the service, so a second try is harmless.
IDEMPOTENT = frozenset({"GET", "HEAD"})
#: A service's answers that say "not now" rather than "no": a read is tried again.
RETRIED_STATUSES = frozenset({502, 503, 504})
#: Internal paths of the reads that take long by nature: KPIs and cohorts, an audience CSV, a privacy export.
SLOW_READS = re.compile(r"/kpis(/cohorts)?$|/segments/[^/]+/audience$|/privacy/export$")
#: Response headers of a service that mean something to the merchant and are passed on (lowercase).
PASSED_HEADERS = ("etag",)
#: ... and of a streamed download.
STREAMED_HEADERS = ("etag", "content-disposition", "cache-control")
#: Seconds a merchant is asked to wait after our 503 (the retries here have already spent the quick ones).
RETRY_AFTER_S = 1


class _Busy(Exception):
    """A 502/503/504 answer, raised inside an attempt so that tenacity tries a read again."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def unavailable(service: str) -> HTTPException:
    return HTTPException(
        503, f"The {service} service is unavailable; try again shortly", headers={"Retry-After": str(RETRY_AFTER_S)}
    )


def failed(service: str) -> HTTPException:
    return HTTPException(
        503, f"The {service} service failed; try again shortly", headers={"Retry-After": str(RETRY_AFTER_S)}
    )


class ServiceClient:
    def __init__(
        self,
        urls: dict[str, str],
        *,
        timeout_s: float = 3.0,
        slow_timeout_s: float = 30.0,
        attempts: int = 3,
        backoff_s: float = 0.05,
    ) -> None:
        self.urls = urls
        self.timeout_s = timeout_s
        self.slow_timeout_s = slow_timeout_s
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.http = httpx.AsyncClient(timeout=timeout_s)

    async def close(self) -> None:
        await self.http.aclose()

    def timeout_for(self, method: str, path: str, timeout_s: float | None = None) -> httpx.Timeout:
        """`timeout_s` if given, else the slow budget for a known-slow read, else the default; connect: short."""
        if timeout_s is None:
            slow = method in IDEMPOTENT and SLOW_READS.search(path) is not None
            timeout_s = self.slow_timeout_s if slow else self.timeout_s
        return httpx.Timeout(timeout_s, connect=min(timeout_s, self.timeout_s))

    async def call(
        self,
        method: str,
        service: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        stream: bool = False,
        timeout_s: float | None = None,
    ) -> httpx.Response:
        """The service's answer; a read is retried (see the module's docstring). A 502/503/504 that stays is returned
        as it is (closed when `stream`); a service that stays unreachable or slow is our 503 problem."""
        method = method.upper()
        url, timeout = self.urls[service] + path, self.timeout_for(method, path, timeout_s)
        retrying = AsyncRetrying(
            retry=retry_if_exception_type((*TRANSPORT_ERRORS, _Busy)),
            stop=stop_after_attempt(self.attempts if method in IDEMPOTENT else 1),
            wait=wait_exponential_jitter(multiplier=self.backoff_s, max=10 * self.backoff_s, jitter=self.backoff_s / 2),
            before_sleep=lambda state: _log_retry(service, method, path, state),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    request = self.http.build_request(
                        method, url, json=json, params=params, headers=headers, timeout=timeout
                    )
                    response = await self.http.send(request, stream=stream)
                    if response.status_code in RETRIED_STATUSES:
                        await response.aclose()  # a streamed body is not wanted: its connection goes back
                        raise _Busy(response)
        except _Busy as busy:
            return busy.response
        except TRANSPORT_ERRORS as exc:
            raise unavailable(service) from exc
        return response

    async def get(self, service: str, path: str) -> dict[str, Any]:
        """GET from a service; its 404 becomes ours, an unreachable service becomes a 503 problem."""
        response = await self.call("GET", service, path)
        if response.status_code == 404:
            raise HTTPException(404, response.json().get("title", "Not found"))
        if response.status_code >= 500:
            raise failed(service)
        response.raise_for_status()
        return response.json()

    async def page(
        self, service: str, path: str, params: dict[str, Any] | None = None, *, method: str = "GET"
    ) -> Response:
        """A public HTML page a service renders (tracking page, unsubscribe), passed through as it is.

        Only GETs are retried: a POST (an unsubscribe click) that timed out may have been applied, and is
        harmless to repeat by hand.
        """
        response = await self.call(method, service, path, params=params)
        if response.status_code >= 500:
            raise failed(service)
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
        """A forwarded call: the service's own answer, its problem+json included, is passed through.

        `headers` go to the service (a merchant's `If-Match`); of the answer's headers, the `ETag` comes back.
        A GET (a paged read) is retried; a mutating call is not: one that timed out may have been applied, so the
        caller retries it with its idempotency key.
        """
        response = await self.call(method, service, path, json=json, params=params, headers=headers)
        if response.status_code >= 500:
            raise failed(service)
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

        Retried like every read until the service answers; a problem (4xx) is passed through like `send` does; a 5xx
        or an unreachable service is our 503 problem. Once the first byte is sent the status is out: a service that
        fails mid-way leaves a truncated download.
        """
        response = await self.call("GET", service, path, params=params, stream=True)
        if response.status_code >= 500:
            await response.aclose()
            raise failed(service)
        if response.status_code >= 300:
            try:
                body = await response.aread()
            except TRANSPORT_ERRORS as exc:
                raise unavailable(service) from exc
            finally:
                await response.aclose()
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


def _log_retry(service: str, method: str, path: str, state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    facts = {"service": service, "method": method, "path": path, "attempt": state.attempt_number}
    log.warning("service call retried", extra={**facts, "error": repr(error)})
