"""The event contract next to the OpenAPI document: AsyncAPI 3 and the readable contract."""

from __future__ import annotations

from typing import Any

import yaml
from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from services.common.contract.docs import render_asyncapi, render_markdown
from services.gateway.api.deps import RuntimeDep, example_response

router = APIRouter(tags=["contract"])

#: An abridged AsyncAPI document: one channel of the contract, its messages left out.
ASYNCAPI_EXAMPLE = {
    "asyncapi": "3.0.0",
    "info": {"title": "Retention platform event contract", "version": "1.0.0"},
    "defaultContentType": "application/json",
    "channels": {
        "shop_orders": {
            "address": "shop.orders",
            "title": "shop.orders",
            "description": "Orders and their payments, cancellations and refunds. Partition key: "
            "`merchant_id:customer_id`.",
            "messages": {},
        }
    },
    "operations": {},
}
ASYNCAPI_YAML_EXAMPLE = yaml.safe_dump(ASYNCAPI_EXAMPLE, sort_keys=False, allow_unicode=True)
CONTRACT_EXAMPLE = (
    "# Event contract\n\nEvery message on every topic is one JSON object, the envelope, whose `data` follows the JSON "
    "Schema (draft 2020-12) of its `type` and `schema_version`.\n\n## Envelope\n\n| field | type | description |\n"
    "|---|---|---|\n| `event_id` | string (uuid) | The producer's id of this event. … |\n…\n"
)


@router.get("/asyncapi.json", responses=example_response(200, ASYNCAPI_EXAMPLE))
async def asyncapi_json(runtime: RuntimeDep) -> dict[str, Any]:
    """The Kafka event contract as an AsyncAPI 3.0 document."""
    return render_asyncapi(runtime.contract)


@router.get(
    "/asyncapi.yaml",
    response_class=PlainTextResponse,
    responses=example_response(200, ASYNCAPI_YAML_EXAMPLE, media_type="text/plain"),
)
async def asyncapi_yaml(runtime: RuntimeDep) -> str:
    """The same AsyncAPI document as YAML."""
    return yaml.safe_dump(render_asyncapi(runtime.contract), sort_keys=False, allow_unicode=True)


@router.get(
    "/contract",
    response_class=PlainTextResponse,
    responses=example_response(200, CONTRACT_EXAMPLE, media_type="text/plain"),
)
async def contract_markdown(runtime: RuntimeDep) -> str:
    """The event contract for integrators, as Markdown."""
    return render_markdown(runtime.contract)
