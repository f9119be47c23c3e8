"""Segments through the merchant API: definitions (create, read, change with `If-Match`, delete, versions, members,
validate) and a customer's segments with the reason they are (not) in one.

Bodies are validated here with the segments service's own models (strict: unknown fields such as a `merchant_id`
are refused; the condition tree itself is checked by the service, whose 422 names each bad node, e.g.
`definition.of[0].within_days`) and forwarded; the service's problems and `ETag`s come back unchanged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Header, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from services.common.envelope import ID_PATTERN
from services.gateway.api.deps import FORWARDED, WITH_BODY, RuntimeDep, problem_responses, require_scope
from services.gateway.api.forward import forward
from services.gateway.api.routes.text_guard import STORABLE_BODY
from services.segments.entrypoints.segments_api import SEGMENT_ID, SegmentChange, SegmentCreate

router = APIRouter(prefix="/v1", tags=["segments"], responses=FORWARDED, dependencies=[STORABLE_BODY])
CustomerId = Annotated[str, Path(pattern=ID_PATTERN, description="The shop's customer id", examples=["c-4711"])]
SegmentId = Annotated[
    str,
    Path(pattern=SEGMENT_ID, description="The merchant's segment id, e.g. `active-coffee`", examples=["active-coffee"]),
]

DEFINITION_EXAMPLE = {
    "op": "and",
    "of": [
        {"op": "performed", "event": "order.placed", "at_least": 1, "within_days": 30},
        {"op": "bought", "category": "coffee"},
    ],
}
SEGMENT_EXAMPLE = {
    "segment_id": "active-coffee",
    "version": 2,
    "name": "Kaffee, zuletzt in 30 Tagen",
    "description": "Coffee buyers with an order in the last 30 days",
    "definition": DEFINITION_EXAMPLE,
    "actions": {"trigger": "campaign"},
    "time_dependent": True,
    "created_at": "2026-03-02T09:00:00Z",
    "updated_at": "2026-03-05T14:30:00Z",
    "members": 412,
}
ETAG_HEADER = {"ETag": {"schema": {"type": "string"}, "description": 'The version, e.g. `"v2"`, for `If-Match`'}}
INVALID_DEFINITION = {
    422: {
        "description": "Invalid body or condition tree; `errors[].path` names each bad field or node.",
        "content": {
            "application/problem+json": {
                "example": {
                    "type": "about:blank",
                    "title": "Invalid segment definition",
                    "status": 422,
                    "detail": "definition.of[0].within_days: Input should be greater than or equal to 1",
                    "errors": [
                        {
                            "path": "definition.of[0].within_days",
                            "message": "Input should be greater than or equal to 1",
                        }
                    ],
                }
            }
        },
    }
}


class SegmentOut(BaseModel):
    """A live segment at its current version."""

    model_config = ConfigDict(json_schema_extra={"example": SEGMENT_EXAMPLE})
    segment_id: str
    version: int = Field(description="Starts at 1; every change is a new version (see `/versions`)")
    name: str
    description: str
    definition: dict[str, Any] = Field(description="The condition tree")
    actions: dict[str, Any] = Field(description="What entering sets off besides `segment.entered`")
    time_dependent: bool = Field(description="Whether members also change with time (windows, dates)")
    created_at: datetime
    updated_at: datetime
    members: int | None = Field(None, description="Current member count (absent in the answer to a change)")


class SegmentList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"items": [SEGMENT_EXAMPLE]}})
    items: list[SegmentOut]


class SegmentVersion(BaseModel):
    version: int
    name: str
    definition: dict[str, Any]
    actions: dict[str, Any]
    saved_at: datetime


class SegmentVersions(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "items": [
                    {"version": 2, "name": SEGMENT_EXAMPLE["name"], "definition": DEFINITION_EXAMPLE,
                     "actions": {"trigger": "campaign"}, "saved_at": "2026-03-05T14:30:00Z"},
                    {"version": 1, "name": "Kaffee, zuletzt in 60 Tagen",
                     "definition": {**DEFINITION_EXAMPLE, "of": [{**DEFINITION_EXAMPLE["of"][0], "within_days": 60},
                                                                 DEFINITION_EXAMPLE["of"][1]]},
                     "actions": {}, "saved_at": "2026-03-02T09:00:00Z"},
                ]
            }
        }
    )  # fmt: skip
    items: list[SegmentVersion] = Field(description="Newest first")


class Member(BaseModel):
    customer_id: str
    entered_at: str = Field(description="When the customer entered (ISO 8601)")


class MembersPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "items": [{"customer_id": "c-1001", "entered_at": "2026-03-02T09:00:00+00:00"}],
                "next_cursor": "c-1001",
            }
        }
    )
    items: list[Member]
    next_cursor: str | None = Field(description="Pass as `after` for the next page; null on the last page")


class CustomerSegment(BaseModel):
    segment_id: str
    entered_at: str


class CustomerSegments(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "items": [
                    {"segment_id": "active-coffee", "entered_at": "2026-03-05T14:30:02+00:00"},
                    {"segment_id": "espresso-fans", "entered_at": "2025-11-20T08:15:00+00:00"},
                ]
            }
        }
    )
    items: list[CustomerSegment]


class MembershipExplanation(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "customer_id": "c-4711",
                "segment_id": "active-coffee",
                "version": 2,
                "member": True,
                "holds_now": True,
                "explanation": {
                    "held": True, "because": "and: 2 of 2 hold", "path": "",
                    "parts": [
                        {"held": True, "because": "order.placed 1 times in 30 days, wanted at least 1", "path": "of[0]",
                         "parts": []},
                        {"held": True, "because": "bought category:coffee 3 times", "path": "of[1]", "parts": []},
                    ],
                },
                "text": "✓ and: 2 of 2 hold\n  ✓ order.placed 1 times in 30 days, wanted at least 1\n"
                "  ✓ bought category:coffee 3 times",
            }
        }
    )  # fmt: skip
    customer_id: str
    segment_id: str
    version: int
    member: bool = Field(description="Whether the customer is a member now (as last evaluated)")
    holds_now: bool = Field(description="Whether the definition holds for the customer's facts right now")
    explanation: dict[str, Any] = Field(description="The tree node by node: held, the deciding values, parts")
    text: str = Field(description="The same as readable lines")


class DefinitionCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")
    definition: Any = Field(description="A condition tree to check without saving it")


class DefinitionValid(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"valid": True, "time_dependent": True}})
    valid: bool
    time_dependent: bool


# --- a customer's segments -------------------------------------------------------------------------------------


@router.get(
    "/customers/{customer_id}/segments",
    summary="A customer's segments",
    response_model=CustomerSegments,
    responses=problem_responses(404),
)
async def customer_segments(
    customer_id: CustomerId, runtime: RuntimeDep, merchant=require_scope("customers:read")
) -> Response:
    """The segments the customer is in now, each with when they entered. 404 for a customer with no profile."""
    return await forward(runtime, merchant, "GET", "segments", f"/customers/{quote(customer_id, safe='')}/segments")


@router.get(
    "/customers/{customer_id}/segments/{segment_id}/explain",
    summary="Why a customer is (not) in a segment",
    response_model=MembershipExplanation,
    responses=problem_responses(404),
)
async def explain_membership(
    customer_id: CustomerId,
    segment_id: SegmentId,
    runtime: RuntimeDep,
    merchant=require_scope("customers:read", "segments:read"),
) -> Response:
    """Which conditions of the segment hold for the customer now, node by node, with the values that decided them
    (needs `customers:read` and `segments:read`: the answer shows the customer's facts)."""
    return await forward(
        runtime,
        merchant,
        "GET",
        "segments",
        f"/customers/{quote(customer_id, safe='')}/segments/{segment_id}/explain",
    )


# --- segment definitions ---------------------------------------------------------------------------------------


@router.get("/segments", summary="List segments", response_model=SegmentList)
async def list_segments(runtime: RuntimeDep, merchant=require_scope("segments:read")) -> Response:
    """Every live segment of the merchant with its current version and member count, by segment id."""
    return await forward(runtime, merchant, "GET", "segments", "/segments")


@router.post(
    "/segments",
    status_code=201,
    summary="Create a segment",
    response_model=SegmentOut,
    responses={201: {"headers": ETAG_HEADER}, **problem_responses(409), **INVALID_DEFINITION, **WITH_BODY},
)
async def create_segment(
    body: Annotated[
        SegmentCreate,
        Body(
            openapi_examples={
                "active-coffee": {
                    "summary": "Coffee buyers of the last 30 days",
                    "value": {
                        "segment_id": "active-coffee",
                        "name": "Kaffee, zuletzt in 30 Tagen",
                        "definition": DEFINITION_EXAMPLE,
                        "actions": {"trigger": "campaign"},
                    },
                }
            }
        ),
    ],
    runtime: RuntimeDep,
    merchant=require_scope("segments:write"),
) -> Response:
    """A new segment at version 1 (a deleted id continues its version history); members are evaluated in the
    background and arrive as `segment.entered` events. 409 if a live segment has this id: change it with PUT."""
    return await forward(
        runtime, merchant, "POST", "segments", "/segments", json=body.model_dump(mode="json", exclude_unset=True)
    )


@router.post(
    "/segments/validate",
    summary="Check a definition without saving it",
    response_model=DefinitionValid,
    responses=INVALID_DEFINITION | WITH_BODY,
)
async def validate_definition(
    body: Annotated[DefinitionCheck, Body(openapi_examples={"ok": {"value": {"definition": DEFINITION_EXAMPLE}}})],
    runtime: RuntimeDep,
    merchant=require_scope("segments:read"),
) -> Response:
    """200 with whether the definition is time-dependent (membership also changes with time), or 422 with the path
    of each bad node. Saves nothing."""
    return await forward(runtime, merchant, "POST", "segments", "/segments/validate", json=body.model_dump(mode="json"))


@router.get(
    "/segments/{segment_id}",
    summary="Read a segment",
    response_model=SegmentOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(404)},
)
async def get_segment(segment_id: SegmentId, runtime: RuntimeDep, merchant=require_scope("segments:read")) -> Response:
    """The segment at its current version with its member count; the `ETag` names the version for `If-Match`."""
    return await forward(runtime, merchant, "GET", "segments", f"/segments/{segment_id}")


@router.put(
    "/segments/{segment_id}",
    summary="Change a segment",
    response_model=SegmentOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(404, 412), **INVALID_DEFINITION, **WITH_BODY},
)
async def change_segment(
    segment_id: SegmentId,
    body: Annotated[
        SegmentChange,
        Body(
            openapi_examples={
                "widen": {
                    "summary": "A 60-day window instead of 30",
                    "value": {
                        "name": "Kaffee, zuletzt in 60 Tagen",
                        "definition": {
                            "op": "and",
                            "of": [
                                {"op": "performed", "event": "order.placed", "at_least": 1, "within_days": 60},
                                {"op": "bought", "category": "coffee"},
                            ],
                        },
                    },
                }
            }
        ),
    ],
    runtime: RuntimeDep,
    if_match: Annotated[
        str | None,
        Header(description='The `ETag` you read (e.g. `"v2"`): refused with 412 if the segment changed since'),
    ] = None,
    merchant=require_scope("segments:write"),
) -> Response:
    """Save a new version of the definition (the whole segment: name, description, definition, actions); every
    customer is re-evaluated against it in the background. Send `If-Match` to never overwrite someone else's
    change."""
    return await forward(
        runtime,
        merchant,
        "PUT",
        "segments",
        f"/segments/{segment_id}",
        json=body.model_dump(mode="json", exclude_unset=True),
        headers={"If-Match": if_match},
    )


@router.delete(
    "/segments/{segment_id}",
    status_code=204,
    summary="Delete a segment",
    response_class=Response,
    responses=problem_responses(404),
)
async def delete_segment(
    segment_id: Annotated[
        str, Path(pattern=SEGMENT_ID, description="The merchant's segment id", examples=["sommer-aktion-2025"])
    ],
    runtime: RuntimeDep,
    merchant=require_scope("segments:write"),
) -> Response:
    """Members leave in the background (`segment.exited`, cause `segment_deleted`); the version history stays and
    the id can be created again."""
    return await forward(runtime, merchant, "DELETE", "segments", f"/segments/{segment_id}")


@router.get(
    "/segments/{segment_id}/versions",
    summary="A segment's version history",
    response_model=SegmentVersions,
    responses=problem_responses(404),
)
async def segment_versions(
    segment_id: SegmentId, runtime: RuntimeDep, merchant=require_scope("segments:read")
) -> Response:
    """Every saved version of the definition, newest first (also of a deleted segment)."""
    return await forward(runtime, merchant, "GET", "segments", f"/segments/{segment_id}/versions")


@router.get(
    "/segments/{segment_id}/members",
    summary="A segment's members",
    response_model=MembersPage,
    responses=problem_responses(404),
)
async def segment_members(
    segment_id: SegmentId,
    runtime: RuntimeDep,
    after: Annotated[str | None, Query(max_length=128, description="`next_cursor` of the previous page")] = None,
    limit: Annotated[int | None, Query(ge=1, le=1000, description="Page size; default 100")] = None,
    merchant=require_scope("segments:read"),
) -> Response:
    """Current members in customer-id order, a page at a time: pass `next_cursor` as `after` until it is null."""
    params = {"after": after, "limit": limit}
    return await forward(runtime, merchant, "GET", "segments", f"/segments/{segment_id}/members", params=params)
