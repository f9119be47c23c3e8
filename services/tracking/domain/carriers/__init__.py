"""Carrier adapters: the parcel carriers' status codes and tracking payloads, normalised to canonical shipment states.

Pure domain logic, no I/O. Every scan keeps the carrier's raw code unchanged: a code no table knows becomes
"unknown" (kept on the timeline, ignored by the state machine) instead of being dropped, so a new carrier code shows
up in the data and can be mapped later. One module per carrier holds its code table (`CODES`) and payload parser.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.tracking.domain.carriers import dhl, dpd, gls, hermes, ups
from services.tracking.domain.carriers._common import (
    CANONICAL_STATES,
    EXCEPTION_REASONS,
    CarrierPayloadError,
    CarrierScan,
    Normalised,
    lookup,
)

__all__ = [
    "CANONICAL_STATES",
    "CARRIERS",
    "EXCEPTION_REASONS",
    "CarrierPayloadError",
    "CarrierScan",
    "Normalised",
    "normalise",
    "parse_payload",
]

CARRIERS = ("dhl", "dpd", "gls", "hermes", "ups")

_NORMALISERS: dict[str, Callable[[str], Normalised]] = {
    "dhl": lambda code: lookup(dhl.CODES, code),
    "dpd": dpd.normalise,  # numeric scan codes come with and without their leading zero
    "gls": lambda code: lookup(gls.CODES, code),
    "hermes": lambda code: lookup(hermes.CODES, code),
    "ups": lambda code: lookup(ups.CODES, code),
}
_PARSERS: dict[str, Callable[[dict[str, Any]], list[CarrierScan]]] = {
    "dhl": dhl.parse,
    "dpd": dpd.parse,
    "gls": gls.parse,
    "hermes": hermes.parse,
    "ups": ups.parse,
}


def normalise(carrier: str, raw_code: str) -> Normalised:
    """The canonical state of one raw carrier code (case-insensitive); unmapped: Normalised("unknown", None)."""
    return _NORMALISERS[_carrier(carrier)](raw_code)


def parse_payload(carrier: str, payload: dict[str, Any]) -> list[CarrierScan]:
    """Every scan of a tracking-API/webhook payload, oldest first; raises CarrierPayloadError naming the bad field."""
    parser = _PARSERS[_carrier(carrier)]
    if not isinstance(payload, dict):
        raise CarrierPayloadError("payload", f"expected an object, got {type(payload).__name__}")
    # Stable sort: scans at the same instant keep the carrier's order.
    return sorted(parser(payload), key=lambda s: s.scanned_at)


def _carrier(carrier: str) -> str:
    name = carrier.strip().lower() if isinstance(carrier, str) else ""
    if name not in _PARSERS:
        raise CarrierPayloadError("carrier", f"unknown carrier {carrier!r}; known: {', '.join(CARRIERS)}")
    return name
