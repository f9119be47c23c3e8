"""The event envelope every message on every topic carries (DESIGN §5)."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

#: Opaque ids from shops: printable, no separators we use in keys, bounded length.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$"


class Envelope(BaseModel):
    """One event: who (merchant), what (type + versioned data), when (event time)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: uuid.UUID
    type: str = Field(pattern=r"^[a-z]+(\.[a-z_]+)+$", examples=["order.placed"])
    schema_version: int = Field(ge=1, default=1)
    merchant_id: str = Field(pattern=ID_PATTERN)
    occurred_at: AwareDatetime
    data: dict[str, Any]

    @field_validator("occurred_at")
    @classmethod
    def _normalise_to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()  # compact JSON, ~4x faster than dumping a dict

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        return cls.model_validate_json(raw)


def new_envelope(
    event_type: str,
    merchant_id: str,
    data: dict[str, Any],
    *,
    occurred_at: datetime,
    event_id: uuid.UUID | None = None,
    schema_version: int = 1,
) -> Envelope:
    """Build an envelope; `occurred_at` is passed in because decisions never read the clock.

    Services build thousands per batch from values that are valid by construction, so the common case checks
    the envelope's few rules directly and skips pydantic's validation (it was ~10% of a tracking batch); the
    outbox still checks `data` against the contract. Anything unusual goes through full validation, which
    raises the precise error. The unchecked path sets the instance's state as `model_construct` does, without its
    per-field loop (0.6 µs instead of 1.8 µs; segments build two or three per event consumed); a unit test holds
    the result equal to a validated envelope.
    """
    if (
        isinstance(data, dict)
        and isinstance(occurred_at, datetime)
        and occurred_at.utcoffset() is not None
        and type(schema_version) is int
        and schema_version >= 1
        and _TYPE.match(event_type)
        and _MERCHANT.match(merchant_id)
    ):
        envelope = Envelope.__new__(Envelope)
        _set(envelope, "__dict__", {
            "event_id": event_id or uuid.uuid4(), "type": event_type, "schema_version": schema_version,
            "merchant_id": merchant_id, "occurred_at": occurred_at.astimezone(UTC), "data": dict(data),
        })  # fmt: skip
        _set(envelope, "__pydantic_fields_set__", set(_ALL_FIELDS))
        _set(envelope, "__pydantic_extra__", None)
        _set(envelope, "__pydantic_private__", None)
        return envelope
    return Envelope(
        event_id=event_id or uuid.uuid4(),
        type=event_type,
        schema_version=schema_version,
        merchant_id=merchant_id,
        occurred_at=occurred_at,
        data=data,
    )


_TYPE = re.compile(r"^[a-z]+(\.[a-z_]+)+$")
_ALL_FIELDS = frozenset(Envelope.model_fields)
_set = object.__setattr__
_MERCHANT = re.compile(ID_PATTERN)


def derived_event_id(source_event_id: uuid.UUID, purpose: str) -> uuid.UUID:
    """A deterministic id for an event caused by another, so a replay emits the same id: `uuid.uuid5`, computed as
    it does minus its argument checks (1.4 µs instead of 2.0; a unit test holds the two equal)."""
    digest = hashlib.sha1(source_event_id.bytes + purpose.encode(), usedforsecurity=False).digest()
    return uuid.UUID(bytes=digest[:16], version=5)
