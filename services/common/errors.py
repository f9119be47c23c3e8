"""The error taxonomy of DESIGN §4, one policy per kind.

- transient (database or broker unavailable): retry with backoff, never ack meanwhile;
- invalid message: dead-letter to `<topic>.dlq` with the reason, keep consuming;
- anything else is a bug: crash loudly and let the supervisor restart the process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
from aiokafka import errors as kafka_errors
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential_jitter

log = logging.getLogger(__name__)
T = TypeVar("T")


class InvalidMessage(Exception):
    """A message no retry can fix; the consumer dead-letters it and moves on."""

    def __init__(self, reason: str, *, event_id: object | None = None, error_type: str = "invalid") -> None:
        super().__init__(reason)
        self.reason = reason
        self.event_id = event_id
        self.error_type = error_type


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,
    OSError,
    TimeoutError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,  # class 08
    asyncpg.InterfaceError,  # "connection is closed" and friends
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, class 57
    asyncpg.exceptions.InsufficientResourcesError,  # class 53
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.TooManyConnectionsError,
    kafka_errors.KafkaConnectionError,
    kafka_errors.KafkaTimeoutError,
    kafka_errors.RequestTimedOutError,
    kafka_errors.NotLeaderForPartitionError,
    kafka_errors.LeaderNotAvailableError,
    kafka_errors.NodeNotReadyError,
)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, kafka_errors.KafkaError) and getattr(exc, "retriable", False):
        return True
    return isinstance(exc, TRANSIENT_ERRORS)


async def retry_transient(
    operation: Callable[[], Awaitable[T]],
    *,
    name: str,
    on_retry: Callable[[BaseException], None] | None = None,
    max_wait_s: float = 10.0,
) -> T:
    """Run `operation` until it succeeds, backing off on transient errors; others propagate.

    There is deliberately no attempt limit: a consumer that gives up would ack what it never applied.
    """

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if exc is not None:
            log.warning(
                "transient failure, retrying",
                extra={"operation": name, "attempt": state.attempt_number, "error": repr(exc)},
            )
            if on_retry:
                on_retry(exc)

    async for attempt in AsyncRetrying(
        retry=retry_if_exception(is_transient),
        wait=wait_exponential_jitter(multiplier=0.05, max=max_wait_s),
        before_sleep=before_sleep,
        reraise=True,
    ):
        with attempt:
            return await operation()
    raise AssertionError("unreachable")  # pragma: no cover
