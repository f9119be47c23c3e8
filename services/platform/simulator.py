"""A simulated German coffee shop posting its event stream to the gateway, paced to a rate (`retention up`)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryError, retry_if_exception, wait_exponential_jitter

from services.platform.simulator_story import ShopSimulation

__all__ = ["ShopSimulation", "run_simulated_shop"]

#: The gateway's batch limit.
MAX_BATCH = 500
PROGRESS_EVERY_S = 60.0


class TransientFailure(Exception):
    """The gateway could not take the batch now (5xx, 429, connection trouble); the same batch is sent again."""


class GatewayRefused(Exception):
    """A 4xx: the simulator sent something the contract or the gateway refuses, which is a bug here."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TransientFailure | httpx.TransportError)


async def run_simulated_shop(
    gateway_url: str,
    api_key: str,
    *,
    events_per_second: float,
    stop: asyncio.Event,
    seed: int = 7,
    log: Callable[[str], Any] = print,
    day_seconds: float = 30.0,
    max_backoff_s: float = 10.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    """Post the shop's events until `stop` is set; returns how many the gateway accepted (not duplicates).

    Each tick asks the simulation for the events due by now, so the rate holds even when a post is slow:
    the next tick simply carries more. A failed batch is retried with backoff until it goes through or
    `stop` is set, so a gateway restart costs a pause, not events.
    """
    if events_per_second <= 0:
        raise ValueError("events_per_second must be positive")
    run = format(int(time.time()), "x")  # a new id space per start: a restart is new data, not duplicates
    simulation = ShopSimulation(seed, events_per_second=events_per_second, day_seconds=day_seconds, run=run)
    tick_s = min(1.0, max(0.1, 100 / events_per_second))  # about 100 events per request, at least 1 per second
    headers = {"Authorization": f"Bearer {api_key}"}
    accepted = posted = 0
    log(f"simulated shop: posting ~{events_per_second:g} events/s to {gateway_url} (seed {seed}, run {run})")
    last_progress = time.monotonic()
    async with httpx.AsyncClient(base_url=gateway_url, headers=headers, timeout=30, transport=transport) as client:
        while not stop.is_set():
            started = time.monotonic()
            events = simulation.next_events(datetime.now(UTC))
            for start in range(0, len(events), MAX_BATCH):
                batch = events[start : start + MAX_BATCH]
                try:
                    accepted += await _post_with_retries(client, batch, stop, log, max_backoff_s)
                except GatewayRefused as exc:
                    log(str(exc))
                    if exc.status in (401, 403):
                        log("simulated shop: stopping, the API key is not accepted")
                        return accepted
                except RetryError:
                    log(f"simulated shop: stopped while retrying; {len(events) - start} events not sent")
                    return accepted
                posted += len(batch)
            if time.monotonic() - last_progress >= PROGRESS_EVERY_S:
                last_progress = time.monotonic()
                log(f"simulated shop: {posted} events posted, {accepted} accepted")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, tick_s - (time.monotonic() - started)))
    log(f"simulated shop: stopped after {posted} events, {accepted} accepted")
    return accepted


async def _post_with_retries(
    client: httpx.AsyncClient,
    batch: list[dict[str, Any]],
    stop: asyncio.Event,
    log: Callable[[str], Any],
    max_backoff_s: float,
) -> int:
    """One batch until it is through; transient trouble is retried with jittered exponential backoff."""
    retrying = AsyncRetrying(
        retry=retry_if_exception(_is_transient),
        wait=wait_exponential_jitter(multiplier=0.2, max=max_backoff_s, jitter=min(1.0, max_backoff_s)),
        stop=lambda _state: stop.is_set(),
        sleep=lambda seconds: _sleep_unless_stopped(stop, seconds),
        before_sleep=lambda state: log(
            f"simulated shop: gateway unavailable ({state.outcome.exception() if state.outcome else '?'}), "
            f"retry {state.attempt_number}"
        ),
    )
    async for attempt in retrying:
        with attempt:
            return await _post(client, batch, log)
    raise AssertionError("unreachable: AsyncRetrying either returns, raises or retries")


async def _sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    """Backoff that a shutdown cuts short (`retention up` gives the shop a few seconds to finish)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _post(client: httpx.AsyncClient, batch: list[dict[str, Any]], log: Callable[[str], Any]) -> int:
    response = await client.post("/v1/events", json={"events": batch})
    if response.status_code >= 500 or response.status_code == 429:
        raise TransientFailure(f"HTTP {response.status_code}")
    if response.status_code >= 400:
        raise GatewayRefused(
            response.status_code,
            f"SIMULATOR BUG: the gateway refused a batch of {len(batch)} events with HTTP {response.status_code}: "
            f"{response.text[:4000]}",
        )
    body = response.json()
    if body.get("rejected"):
        rejected = [r for r in body.get("results", []) if r.get("status") == "rejected"]
        log(f"SIMULATOR BUG: {len(rejected)} simulated events were rejected: {rejected[:5]}")
    return int(body.get("accepted", 0))
