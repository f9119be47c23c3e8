"""Pushes an audience delta to the merchant's configured HTTP destination, with retries that are safe to repeat.

Safe because the body and its `Idempotency-Key` are fixed before the first attempt: a retry after a timeout that the
destination did in fact apply is recognisable as the same delivery. With a secret, the destination can check
`X-Retention-Signature: sha256=<hex HMAC-SHA256 of the raw body>` that the push is ours and unaltered.

Retried: connection errors, timeouts, 429 and 5xx (the destination may be back in a moment). Not retried: any other
4xx, which says the request itself is wrong and will be just as wrong the next time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, wait_exponential

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Retention-Signature"
#: Longest we ever sleep between attempts, whatever Retry-After asks for: a push is not worth a stuck worker.
MAX_WAIT_S = 60.0


class PushFailed(Exception):
    """The destination did not take the delta: after the last retry, or at once for a 4xx other than 429."""

    def __init__(self, url: str, status: int | None, reason: str) -> None:
        super().__init__(f"audience push to {url} failed ({status if status is not None else 'no response'}): {reason}")
        self.url = url
        self.status = status
        self.reason = reason


class _Retryable(Exception):
    def __init__(self, status: int | None, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retry_after_s = retry_after_s


def sign(secret: str, body: bytes) -> str:
    """The signature header's value; the destination recomputes it over the bytes it received."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


_backoff = wait_exponential(multiplier=0.5, max=MAX_WAIT_S)


def default_wait(state: RetryCallState) -> float:
    """Exponential backoff, stretched to the destination's Retry-After when it names a longer pause."""
    exc = state.outcome.exception() if state.outcome else None
    asked = exc.retry_after_s if isinstance(exc, _Retryable) and exc.retry_after_s is not None else 0.0
    return min(MAX_WAIT_S, max(_backoff(state), asked))


class AudiencePusher:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        attempts: int = 5,
        wait: Callable[[RetryCallState], float] = default_wait,
    ) -> None:
        self.client = client
        self.attempts = attempts
        self.wait = wait

    async def push(self, url: str, secret: str | None, payload: dict[str, Any], idempotency_key: str) -> None:
        """POST the payload once and for all; returns on 2xx, raises `PushFailed` otherwise."""
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
        headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
        if secret:
            headers[SIGNATURE_HEADER] = sign(secret, body)
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(_Retryable),
                stop=stop_after_attempt(self.attempts),
                wait=self.wait,
                before_sleep=lambda state: log.warning(
                    "audience push failed, retrying",
                    extra={"url": url, "attempt": state.attempt_number, "error": repr(state.outcome.exception())},
                ),
                reraise=True,
            ):
                with attempt:
                    await self._post_once(url, body, headers)
        except _Retryable as exc:
            raise PushFailed(url, exc.status, f"{exc.reason} (gave up after {self.attempts} attempts)") from exc

    async def _post_once(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        try:
            response = await self.client.post(url, content=body, headers=headers)
        except httpx.TransportError as exc:  # connect errors, timeouts, broken connections
            raise _Retryable(None, f"{type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return
        reason = f"HTTP {status}: {response.text[:200]}"
        if status == 429 or status >= 500:
            raise _Retryable(status, reason, _retry_after(response))
        raise PushFailed(url, status, reason)
