"""A merchant's own API keys, with a key of scope `keys:manage`: list, rotate (with an overlap window), revoke.

The merchant is the key's; another merchant's key is a 404 like a missing one. A key manages only keys with no
more scopes than itself (else 403), so rotating can never hand out more power than the caller has. The last
active key of a merchant cannot be revoked here (409): rotate it, or let the operator revoke it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.adapters.merchants import (
    KeyConflict,
    KeyInfo,
    NewKey,
    NotFound,
    get_key,
    list_keys,
    revoke_key,
    rotate_key,
)
from services.gateway.api.deps import (
    FORBIDDEN_TITLE,
    KEYED,
    Merchant,
    RuntimeDep,
    problem_responses,
    require_scope,
)
from services.gateway.core.security import DEFAULT_OVERLAP, MAX_OVERLAP

MANAGE = "keys:manage"
KEY_ID_DESCRIPTION = "The key's `key_id` (from a key list), never the key itself"
KeyId = Annotated[uuid.UUID, Path(description=KEY_ID_DESCRIPTION)]

KEY_EXAMPLE: dict[str, Any] = {
    "key_id": "0b7d3f0e-5c1a-4f7e-9a51-6a1f2c3d4e5f",
    "prefix": "rk_live_4fZq81Ka",
    "environment": "live",
    "scopes": ["events:write", "customers:read"],
    "label": "shop plugin",
    "status": "active",
    "created_at": "2026-03-02T09:00:00Z",
    "expires_at": None,
    "revoked_at": None,
    "last_used_at": "2026-03-05T14:31:00Z",
    "rotated_from": None,
    "replaced_by": None,
}
TOKEN_EXAMPLE = "rk_live_4fZq81KaT0pS3cr3tV4lu3xY0y1AtX"
REPLACEMENT_ID = "5e0c2a71-93d4-4b8e-8f0a-2c6b1d9e7f30"
NEW_KEY_EXAMPLE = {"api_key": TOKEN_EXAMPLE, "key": {**KEY_EXAMPLE, "last_used_at": None}}


class KeyPublic(BaseModel):
    """A key as it may be shown: its prefix and metadata, never the key or its hash."""

    model_config = ConfigDict(json_schema_extra={"examples": [KEY_EXAMPLE]})
    key_id: uuid.UUID
    prefix: str = Field(description="The start of the key (`rk_<env>_` + 8 characters), to recognise it")
    environment: Literal["live", "test"]
    scopes: list[str]
    label: str | None
    status: Literal["active", "expired", "revoked"]
    created_at: datetime
    expires_at: datetime | None = Field(description="From then on refused; set by rotation to the overlap's end")
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(description="Last accepted request (updated at most once a minute)")
    rotated_from: uuid.UUID | None = Field(description="The key this one replaced")
    replaced_by: uuid.UUID | None = Field(description="The key that replaced this one (a key is rotated once)")


class OwnKeyPublic(KeyPublic):
    model_config = ConfigDict(json_schema_extra={"examples": [{**KEY_EXAMPLE, "current": True}]})
    current: bool = Field(description="Whether this is the key of the request")


class OwnKeyList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {**KEY_EXAMPLE, "current": True},
                        {**KEY_EXAMPLE, "key_id": "7a9e5c31-2b4d-4f6a-8c0e-1d3f5a7b9c2e", "prefix": "rk_live_Q8m2Lx0v",
                         "label": "Warenwirtschaft", "scopes": ["events:write"], "last_used_at": "2026-03-05T13:02:00Z",
                         "current": False},
                    ]
                }
            ]
        }
    )  # fmt: skip
    items: list[OwnKeyPublic]


class NewKeyPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [NEW_KEY_EXAMPLE]})
    api_key: str = Field(description="The key: shown this once, only its hash is stored")
    key: KeyPublic


class RotatedKeyPublic(NewKeyPublic):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **NEW_KEY_EXAMPLE,
                    "key": {**NEW_KEY_EXAMPLE["key"], "key_id": REPLACEMENT_ID, "rotated_from": KEY_EXAMPLE["key_id"]},
                    "previous": {**KEY_EXAMPLE, "expires_at": "2026-03-06T14:31:00Z", "replaced_by": REPLACEMENT_ID},
                }
            ]
        }
    )
    previous: KeyPublic = Field(description="The rotated key, working until its `expires_at`")


class KeyRotate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"overlap_hours": 24}]})
    overlap_hours: int = Field(
        int(DEFAULT_OVERLAP.total_seconds() // 3600),
        ge=0,
        le=int(MAX_OVERLAP.total_seconds() // 3600),
        description="How long the old key keeps working next to the new one (0: stops now; at most 30 days)",
    )


#: The optional body of a rotation, with its examples.
RotateBody = Annotated[
    KeyRotate | None,
    Body(
        openapi_examples={
            "a-day": {"summary": "The old key works for another day", "value": {"overlap_hours": 24}},
            "now": {"summary": "The old key stops now (it leaked)", "value": {"overlap_hours": 0}},
        }
    ),
]


def key_public(info: KeyInfo, now: datetime) -> KeyPublic:
    return KeyPublic(
        key_id=info.key_id,
        prefix=info.prefix,
        environment=info.environment,  # type: ignore[arg-type]
        scopes=list(info.scopes),
        label=info.label,
        status=info.status(now),
        created_at=info.created_at,
        expires_at=info.expires_at,
        revoked_at=info.revoked_at,
        last_used_at=info.last_used_at,
        rotated_from=info.rotated_from,
        replaced_by=info.replaced_by,
    )


def new_key_public(new: NewKey, now: datetime) -> NewKeyPublic:
    return NewKeyPublic(api_key=new.token, key=key_public(new.info, now))


def no_store(response: Response) -> None:
    """An answer that shows a key is kept by no cache, and never replayed for an `Idempotency-Key`."""
    response.headers["Cache-Control"] = "no-store"


#: For the routes whose answer shows a key.
SHOWS_KEY = [Depends(no_store)]


def conflict(exc: KeyConflict) -> HTTPException:
    return HTTPException(409, str(exc))


router = APIRouter(prefix="/v1/keys", tags=["keys"], responses=KEYED)


async def _own_manageable_key(runtime: RuntimeDep, merchant: Merchant, key_id: uuid.UUID) -> KeyInfo:
    """The merchant's key, if the calling key has every scope of it."""
    info = await get_key(runtime.pool, key_id)
    if info is None or info.merchant_id != merchant.merchant_id:
        raise HTTPException(404, "No such key")
    missing = [scope for scope in info.scopes if scope not in merchant.scopes]
    if missing:
        raise HTTPException(403, FORBIDDEN_TITLE.format(scope=missing[0]))
    return info


@router.get("")
async def list_own_keys(runtime: RuntimeDep, merchant=require_scope(MANAGE)) -> OwnKeyList:
    """This merchant's keys, newest first, revoked and expired ones too; `current` marks the calling key."""
    now = datetime.now(UTC)
    keys = await list_keys(runtime.pool, merchant.merchant_id)
    return OwnKeyList(
        items=[OwnKeyPublic(**dict(key_public(info, now)), current=info.key_id == merchant.key_id) for info in keys]
    )


@router.post("/{key_id}/rotate", status_code=201, responses=problem_responses(400, 404, 409), dependencies=SHOWS_KEY)
async def rotate_own_key(
    key_id: KeyId, runtime: RuntimeDep, body: RotateBody = None, merchant=require_scope(MANAGE)
) -> RotatedKeyPublic:
    """A new key with the same scopes, label, environment and expiry (shown once); the old one keeps working for
    `overlap_hours` (default 24) so it can be replaced without downtime. 409 if the key is revoked, expired or was
    rotated already (then rotate its replacement)."""
    await _own_manageable_key(runtime, merchant, key_id)
    now = datetime.now(UTC)
    overlap = timedelta(hours=(body or KeyRotate()).overlap_hours)
    try:
        new, old = await rotate_key(runtime.pool, key_id, now, overlap, merchant_id=merchant.merchant_id)
    except NotFound as exc:
        raise HTTPException(404, "No such key") from exc
    except KeyConflict as exc:
        raise conflict(exc) from exc
    return RotatedKeyPublic(api_key=new.token, key=key_public(new.info, now), previous=key_public(old, now))


@router.delete("/{key_id}", responses=problem_responses(404, 409))
async def revoke_own_key(key_id: KeyId, runtime: RuntimeDep, merchant=require_scope(MANAGE)) -> KeyPublic:
    """Revoke at once (the calling key too); revoking again changes nothing. 409 for the merchant's last active
    key: rotate it instead."""
    await _own_manageable_key(runtime, merchant, key_id)
    now = datetime.now(UTC)
    try:
        info = await revoke_key(runtime.pool, key_id, now, merchant_id=merchant.merchant_id, keep_one_active=True)
    except NotFound as exc:
        raise HTTPException(404, "No such key") from exc
    except KeyConflict as exc:
        raise conflict(exc) from exc
    return key_public(info, now)
