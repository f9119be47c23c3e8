"""`Idempotency-Key` on mutating merchant calls, as Stripe does it: the pure rules (no I/O).

A merchant's retry of a POST/PUT/PATCH/DELETE under `/v1` with the same key and the same request gets the first
answer again (status, the headers that matter, body) marked `Idempotent-Replayed: true`, instead of a second effect.
The same key with another method, path or body is a 422; while the first is still running, a 409. Keys are the
merchant's own (two merchants may use the same string), up to 255 printable ASCII characters, kept 24 hours.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from services.gateway.core.security import well_formed

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PATH_PREFIX = "/v1/"
#: How long a key is remembered, counted from its first request (Stripe: "at least 24 hours").
TTL = timedelta(hours=24)
#: A request holding a key longer than this is taken to have died with its process (its row is taken over). Far
#: above any real request: calls to the services time out after 3 s; only an event publish can wait out a broker
#: outage, and events carry their own `event_id` dedupe as a second line.
IN_FLIGHT_TIMEOUT = timedelta(seconds=60)
#: Of a first answer, only these headers are kept and replayed (lowercase, as ASGI carries them).
STORED_HEADERS = ("content-type", "etag", "location", "retry-after")
#: An answer whose body is larger than this is not kept (the key is released; a retry runs again).
MAX_STORED_BODY = 5 * 1024 * 1024
#: Answers given before the route began its work, so a retry must run it: the key was refused (401), lacks the
#: scope (403) or was throttled (429). 5xx are not kept either: the merchant retries them with the same key.
_NOT_STORED = frozenset({401, 403, 429})


def applies(method: str, path: str) -> bool:
    """Whether the header means anything here: mutating merchant calls; GET/HEAD and other prefixes ignore it."""
    return method.upper() in MUTATING_METHODS and path.startswith(PATH_PREFIX)


def key_problem(key: str) -> str | None:
    """Why `key` is not a usable idempotency key, or None when it is."""
    if not key:
        return "must not be empty"
    if len(key) > MAX_KEY_LENGTH:
        return f"at most {MAX_KEY_LENGTH} characters"
    if any(not (" " <= c <= "~") for c in key) or key != key.strip():
        return "printable ASCII only, without leading or trailing spaces"
    return None


def canonical_body(body: bytes) -> bytes:
    """JSON with sorted keys and no spaces, so a retry that re-serialises its body still matches; else the bytes."""
    if not body.strip():
        return b""
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body
    return json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def fingerprint(method: str, path: str, query: bytes | str, body: bytes) -> str:
    """What "the same request" means: method, path with its query string, and body (sha256, hex)."""
    query_text = query.decode("latin-1") if isinstance(query, bytes) else query
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query_text.encode()):
        digest.update(part)
        digest.update(b"\n")
    digest.update(canonical_body(body))
    return digest.hexdigest()


_TOKEN = re.compile(rb"rk_(?:live|test)_[0-9A-Za-z]{30}")


def contains_api_key(body: bytes) -> bool:
    """Whether an answer shows an API key (a key issued or rotated): such an answer is never written down."""
    return any(well_formed(found.decode()) for found in _TOKEN.findall(body))


def storable(status: int, headers: Iterable[tuple[bytes, bytes]], body: bytes, body_size: int) -> bool:
    """Whether an answer is kept for replay: not a 5xx, 401, 403 or 429 (see `_NOT_STORED`), not larger than
    `MAX_STORED_BODY`, not marked `Cache-Control: no-store`, and never one that shows an API key."""
    if status >= 500 or status in _NOT_STORED or body_size > MAX_STORED_BODY:
        return False
    for name, value in headers:
        if name.lower() == b"cache-control" and b"no-store" in value.lower():
            return False
    return not contains_api_key(body)


def kept_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[list[str]]:
    """The headers of a first answer worth replaying, as `[[name, value], …]` (JSON-friendly)."""
    return [
        [name.decode("latin-1").lower(), value.decode("latin-1")]
        for name, value in raw
        if name.decode("latin-1").lower() in STORED_HEADERS
    ]


@dataclass(frozen=True)
class StoredResponse:
    status: int
    headers: list[list[str]]
    body: bytes

    def replay_headers(self) -> dict[str, str]:
        return {**{name: value for name, value in self.headers}, REPLAYED_HEADER.lower(): "true"}


@dataclass(frozen=True)
class Existing:
    """A key already held: the fingerprint of its first request, and its answer once there is one."""

    fingerprint: str
    response: StoredResponse | None


class Outcome(enum.Enum):
    MISMATCH = "mismatch"  # 422: the key was used for another request
    IN_FLIGHT = "in_flight"  # 409: the first request with the key is still running
    REPLAY = "replay"  # the first answer again


def decide(existing: Existing, request_fingerprint: str) -> Outcome:
    """What a request gets when another request already holds its key."""
    if existing.fingerprint != request_fingerprint:
        return Outcome.MISMATCH
    return Outcome.IN_FLIGHT if existing.response is None else Outcome.REPLAY


MISMATCH_MESSAGE = "was already used in the last 24 hours for another request (method, path or body)"
IN_FLIGHT_MESSAGE = "a request with this key is still being processed; retry shortly"
