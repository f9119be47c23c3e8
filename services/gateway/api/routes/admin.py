"""Operator API: create merchants and issue keys (guarded by RETENTION_ADMIN_TOKEN)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from services.common.envelope import ID_PATTERN
from services.gateway.adapters.merchants import create_key, create_merchant
from services.gateway.api.deps import RuntimeDep, require_admin

router = APIRouter(prefix="/admin/v1", tags=["admin"], dependencies=[Depends(require_admin)])


class MerchantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    merchant_id: str = Field(pattern=ID_PATTERN, examples=["kaffeerösterei-dortmund".replace("ö", "oe")])
    name: str = Field(min_length=1, max_length=200, examples=["Kaffeerösterei Dortmund"])
    environment: Literal["live", "test"] = "test"


class MerchantPublic(BaseModel):
    merchant_id: str
    name: str
    api_key: str = Field(description="Shown once; only its hash is stored.")


@router.post("/merchants", status_code=201)
async def create_merchant_route(body: MerchantCreate, runtime: RuntimeDep) -> MerchantPublic:
    """Create a merchant and its first API key."""
    if not await create_merchant(runtime.pool, body.merchant_id, body.name):
        raise HTTPException(409, "A merchant with this id exists")
    token = await create_key(runtime.pool, body.merchant_id, environment=body.environment, label="first key")
    return MerchantPublic(merchant_id=body.merchant_id, name=body.name, api_key=token)
