"""The event contract next to the OpenAPI document: AsyncAPI 3 and the readable contract."""

from __future__ import annotations

from typing import Any

import yaml
from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from services.common.contract.docs import render_asyncapi, render_markdown
from services.gateway.api.deps import RuntimeDep

router = APIRouter(tags=["contract"])


@router.get("/asyncapi.json")
async def asyncapi_json(runtime: RuntimeDep) -> dict[str, Any]:
    """The Kafka event contract as an AsyncAPI 3.0 document."""
    return render_asyncapi(runtime.contract)


@router.get("/asyncapi.yaml", response_class=PlainTextResponse)
async def asyncapi_yaml(runtime: RuntimeDep) -> str:
    """The same AsyncAPI document as YAML."""
    return yaml.safe_dump(render_asyncapi(runtime.contract), sort_keys=False, allow_unicode=True)


@router.get("/contract", response_class=PlainTextResponse)
async def contract_markdown(runtime: RuntimeDep) -> str:
    """The event contract for integrators, as Markdown."""
    return render_markdown(runtime.contract)
