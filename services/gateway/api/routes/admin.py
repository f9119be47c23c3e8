"""Operator API: merchants and their API keys (guarded by RETENTION_ADMIN_TOKEN).

Keys are issued with chosen scopes (from the known list), environment, label and optional expiry, listed without
their hash, revoked, and rotated with an overlap window. Unlike a merchant's own key (`/v1/keys`), the operator may
revoke a merchant's last key.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from services.common.envelope import ID_PATTERN
from services.gateway.adapters.merchants import (
    DEFAULT_SCOPES,
    KeyConflict,
    NotFound,
    create_merchant,
    issue_api_key,
    list_keys,
    list_merchants,
    merchant_exists,
    revoke_key,
    rotate_key,
    unknown_scopes,
)
from services.gateway.api.deps import RuntimeDep, problem_responses, require_admin
from services.gateway.api.routes import keys
from services.gateway.api.routes.text_guard import STORABLE_BODY

router = APIRouter(
    prefix="/admin/v1",
    tags=["admin"],
    dependencies=[Depends(require_admin), STORABLE_BODY],
    responses=problem_responses(401, 422),
)
MerchantId = Annotated[str, Path(pattern=ID_PATTERN, description="The merchant's id")]


class MerchantCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "merchant_id": "kaffeeroesterei-dortmund",
                "name": "Kaffeerösterei Dortmund",
                "environment": "live",
            }
        },
    )
    merchant_id: str = Field(pattern=ID_PATTERN, examples=["kaffeerösterei-dortmund".replace("ö", "oe")])
    name: str = Field(min_length=1, max_length=200, examples=["Kaffeerösterei Dortmund"])
    environment: Literal["live", "test"] = "test"


class MerchantPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "merchant_id": "kaffeeroesterei-dortmund",
                "name": "Kaffeerösterei Dortmund",
                "api_key": keys.TOKEN_EXAMPLE,
                "key": {**keys.KEY_EXAMPLE, "scopes": list(DEFAULT_SCOPES), "label": "first key", "last_used_at": None},
            }
        }
    )
    merchant_id: str
    name: str
    api_key: str = Field(description="Shown once; only its hash is stored.")
    key: keys.KeyPublic = Field(description="The first key: every scope, no expiry")


class MerchantSummary(BaseModel):
    merchant_id: str
    name: str
    created_at: datetime
    active_keys: int = Field(description="Keys neither revoked nor expired")


class MerchantList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "merchant_id": "kaffeeroesterei-dortmund",
                            "name": "Kaffeerösterei Dortmund",
                            "created_at": "2026-03-02T09:00:00Z",
                            "active_keys": 2,
                        }
                    ],
                    "next_after": None,
                }
            ]
        }
    )
    items: list[MerchantSummary]
    next_after: str | None = Field(description="Pass as `after` for the next page; null on the last")


class KeyList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [keys.KEY_EXAMPLE]}]})
    items: list[keys.KeyPublic]


class KeyIssue(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "scopes": ["events:write", "customers:read"],
                    "environment": "live",
                    "label": "shop plugin",
                    "expires_at": "2027-01-01T00:00:00Z",
                }
            ]
        },
    )
    scopes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SCOPES),
        min_length=1,
        description=f"Each one of: {', '.join(DEFAULT_SCOPES)} (default: all)",
    )
    environment: Literal["live", "test"] = "test"
    label: str | None = Field(None, max_length=200, description="For humans, e.g. where the key is used")
    expires_at: AwareDatetime | None = Field(None, description="From then on refused (must be in the future)")

    @field_validator("scopes")
    @classmethod
    def _known_scopes(cls, scopes: list[str]) -> list[str]:
        unknown = unknown_scopes(scopes)
        if unknown:
            raise ValueError(f"unknown scope {unknown[0]!r}; known: {', '.join(DEFAULT_SCOPES)}")
        return list(dict.fromkeys(scopes))

    @field_validator("expires_at")
    @classmethod
    def _in_future(cls, expires_at: datetime | None) -> datetime | None:
        if expires_at is not None and expires_at <= datetime.now(UTC):
            raise ValueError("must be in the future")
        return expires_at


@router.post("/merchants", status_code=201, responses=problem_responses(400, 409), dependencies=keys.SHOWS_KEY)
async def create_merchant_route(body: MerchantCreate, runtime: RuntimeDep) -> MerchantPublic:
    """Create a merchant and its first API key (every scope, shown once)."""
    if not await create_merchant(runtime.pool, body.merchant_id, body.name):
        raise HTTPException(409, "A merchant with this id exists")
    new = await issue_api_key(
        runtime.pool, body.merchant_id, scopes=DEFAULT_SCOPES, environment=body.environment, label="first key"
    )
    now = datetime.now(UTC)
    return MerchantPublic(
        merchant_id=body.merchant_id, name=body.name, api_key=new.token, key=keys.key_public(new.info, now)
    )


@router.get("/merchants")
async def list_merchants_route(
    runtime: RuntimeDep,
    after: Annotated[str | None, Query(description="`next_after` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> MerchantList:
    """Merchants by id, with their number of active keys."""
    merchants = await list_merchants(runtime.pool, datetime.now(UTC), after=after, limit=limit)
    return MerchantList(
        items=[MerchantSummary(**vars(m)) for m in merchants],
        next_after=merchants[-1].merchant_id if len(merchants) == limit else None,
    )


@router.get("/merchants/{merchant_id}/keys", responses=problem_responses(404))
async def list_merchant_keys(merchant_id: MerchantId, runtime: RuntimeDep) -> KeyList:
    """The merchant's keys, newest first, revoked and expired ones too: prefix and metadata, never the hash."""
    if not await merchant_exists(runtime.pool, merchant_id):
        raise HTTPException(404, "No such merchant")
    now = datetime.now(UTC)
    return KeyList(items=[keys.key_public(info, now) for info in await list_keys(runtime.pool, merchant_id)])


@router.post(
    "/merchants/{merchant_id}/keys", status_code=201, responses=problem_responses(400, 404), dependencies=keys.SHOWS_KEY
)
async def issue_merchant_key(merchant_id: MerchantId, body: KeyIssue, runtime: RuntimeDep) -> keys.NewKeyPublic:
    """Issue a key with the given scopes, environment, label and expiry; the key is in this answer only."""
    try:
        new = await issue_api_key(
            runtime.pool,
            merchant_id,
            scopes=tuple(body.scopes),
            environment=body.environment,
            label=body.label,
            expires_at=body.expires_at,
        )
    except NotFound as exc:
        raise HTTPException(404, "No such merchant") from exc
    return keys.new_key_public(new, datetime.now(UTC))


@router.delete("/keys/{key_id}", responses=problem_responses(404))
async def revoke_merchant_key(key_id: keys.KeyId, runtime: RuntimeDep) -> keys.KeyPublic:
    """Revoke at once, the merchant's last key too; revoking again changes nothing."""
    now = datetime.now(UTC)
    try:
        return keys.key_public(await revoke_key(runtime.pool, key_id, now), now)
    except NotFound as exc:
        raise HTTPException(404, "No such key") from exc


@router.post(
    "/keys/{key_id}/rotate", status_code=201, responses=problem_responses(400, 404, 409), dependencies=keys.SHOWS_KEY
)
async def rotate_merchant_key(
    key_id: keys.KeyId, runtime: RuntimeDep, body: keys.RotateBody = None
) -> keys.RotatedKeyPublic:
    """A new key with the same scopes, label, environment and expiry (shown once); the old one keeps working for
    `overlap_hours` (default 24, at most 720). 409 if it is revoked, expired or was rotated already."""
    now = datetime.now(UTC)
    try:
        new, old = await rotate_key(
            runtime.pool, key_id, now, timedelta(hours=(body or keys.KeyRotate()).overlap_hours)
        )
    except NotFound as exc:
        raise HTTPException(404, "No such key") from exc
    except KeyConflict as exc:
        raise keys.conflict(exc) from exc
    return keys.RotatedKeyPublic(
        api_key=new.token, key=keys.key_public(new.info, now), previous=keys.key_public(old, now)
    )
