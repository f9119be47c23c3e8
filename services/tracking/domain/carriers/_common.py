"""Shared vocabulary and payload-reading helpers of the carrier adapters: pure, no I/O."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

CANONICAL_STATES = frozenset(
    {
        "label_created",
        "in_transit",
        "out_for_delivery",
        "delivered",
        "failed_attempt",
        "exception",
        "returned_to_sender",
        "lost",
        "unknown",
    }
)
EXCEPTION_REASONS = frozenset({"address_problem", "damaged", "customs", "held", "refused", "other"})

#: German carriers that send wall-clock time without an offset mean German time.
BERLIN = ZoneInfo("Europe/Berlin")

_ALPHA2 = re.compile(r"^[A-Z]{2}$")


class CarrierPayloadError(ValueError):
    """A payload that does not have the shape the carrier documents; `path` names the offending field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class Normalised:
    status: str
    exception_reason: str | None

    def __post_init__(self) -> None:
        # A typo in a code table must fail at import time, not surface as a bogus state downstream.
        if self.status not in CANONICAL_STATES:
            raise ValueError(f"not a canonical state: {self.status!r}")
        if (self.status == "exception") != (self.exception_reason is not None):
            raise ValueError("exception_reason is set exactly when status is 'exception'")
        if self.exception_reason is not None and self.exception_reason not in EXCEPTION_REASONS:
            raise ValueError(f"not an exception reason: {self.exception_reason!r}")


UNKNOWN = Normalised("unknown", None)


@dataclass(frozen=True)
class CarrierScan:
    tracking_number: str
    raw_status_code: str
    status: str
    exception_reason: str | None
    scanned_at: datetime
    location: dict[str, str] | None
    description: str | None
    estimated_delivery_date: date | None


def state(status: str, reason: str | None = None) -> Normalised:
    """Short constructor for the code tables."""
    return Normalised(status, reason)


def table(entries: Mapping[str, Normalised]) -> dict[str, Normalised]:
    """A code table keyed case-insensitively, since carriers are not consistent about case."""
    return {code.strip().casefold(): value for code, value in entries.items()}


def lookup(codes: Mapping[str, Normalised], raw_code: str) -> Normalised:
    """Unmapped codes become "unknown" instead of raising: the scan is kept, it just says nothing about the state."""
    return codes.get(raw_code.strip().casefold(), UNKNOWN)


def scan(
    tracking_number: str,
    raw_code: str,
    normalised: Normalised,
    scanned_at: datetime,
    location: dict[str, str] | None,
    description: str | None,
    estimated: date | None,
) -> CarrierScan:
    return CarrierScan(
        tracking_number=tracking_number,
        raw_status_code=raw_code,
        status=normalised.status,
        exception_reason=normalised.exception_reason,
        scanned_at=scanned_at,
        location=location,
        description=description,
        estimated_delivery_date=estimated,
    )


# --- reading payloads: every failure names the field path, so a changed carrier API is found in one log line ---


def as_dict(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CarrierPayloadError(path, f"expected an object, got {type(value).__name__}")
    return value


def get_dict(obj: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    return as_dict(_present(obj, key, path), f"{path}.{key}" if path else key)


def get_list(obj: dict[str, Any], key: str, path: str) -> list[Any]:
    here = f"{path}.{key}" if path else key
    value = _present(obj, key, path)
    if not isinstance(value, list):
        raise CarrierPayloadError(here, f"expected a list, got {type(value).__name__}")
    return value


def get_str(obj: dict[str, Any], key: str, path: str) -> str:
    here = f"{path}.{key}" if path else key
    value = _present(obj, key, path)
    if not isinstance(value, str) or not value.strip():
        raise CarrierPayloadError(here, "expected a non-empty string")
    return value


def opt_str(obj: dict[str, Any] | None, key: str) -> str | None:
    """Optional text fields: anything but a non-empty string counts as absent, the scan is still worth keeping."""
    value = obj.get(key) if obj else None
    return value.strip() if isinstance(value, str) and value.strip() else None


def opt_dict(obj: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    value = obj.get(key) if obj else None
    return value if isinstance(value, dict) else None


def _present(obj: dict[str, Any], key: str, path: str) -> Any:
    if key not in obj or obj[key] is None:
        raise CarrierPayloadError(f"{path}.{key}" if path else key, "missing")
    return obj[key]


def iso_timestamp(value: str, path: str) -> datetime:
    """ISO 8601 with or without offset; without one it is German wall-clock time (see BERLIN)."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise CarrierPayloadError(path, f"not an ISO 8601 timestamp: {value!r}") from None
    return to_utc(parsed)


def iso_local_date(value: str, path: str) -> date:
    """The calendar day a carrier promises, as seen in Germany (an offset-carrying ETA is moved to German time)."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise CarrierPayloadError(path, f"not an ISO 8601 date or timestamp: {value!r}") from None
    return parsed.astimezone(BERLIN).date() if parsed.tzinfo is not None else parsed.date()


def to_utc(parsed: datetime) -> datetime:
    # In the autumn fall-back hour a naive time is ambiguous; zoneinfo's fold=0 picks the first (summer-time)
    # occurrence, which is at most an hour early and never reorders scans of one carrier.
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=BERLIN)
    return parsed.astimezone(UTC)


def location(city: str | None, postcode: str | None, country: str | None) -> dict[str, str] | None:
    """{"city", "postcode", "country"} with only the parts the carrier gave; None without place and country.

    Countries that are not ISO 3166-1 alpha-2 (names, numeric codes) are dropped rather than guessed.
    """
    code = country.strip().upper() if country else None
    if code is not None and not _ALPHA2.match(code):
        code = None
    if not city and not code:
        return None
    result: dict[str, str] = {}
    if city:
        result["city"] = city
    if postcode:
        result["postcode"] = postcode
    if code:
        result["country"] = code
    return result
