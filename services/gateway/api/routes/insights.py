"""Insights the segments service computes, through the merchant API: monthly KPIs and cohort retention, purchase
predictions (BG/NBD + Gamma-Gamma), and retargeting audiences (a CSV download, or pushes to a destination).

Forwarded like the other routers: the merchant comes from the key, bodies are checked with the service's own model,
the service's answers and problems come back unchanged; the audience CSV is streamed through, not buffered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.api.deps import FORWARDED, RuntimeDep, problem_responses, require_scope
from services.gateway.api.forward import forward
from services.gateway.api.quotas import quota
from services.gateway.api.routes.segments import CustomerId, SegmentId
from services.gateway.api.routes.text_guard import STORABLE_BODY
from services.segments.domain.cohorts import CohortRow
from services.segments.domain.kpis import MonthKpis
from services.segments.entrypoints.insights_api import AudienceDestination
from services.segments.entrypoints.segments_api import SEGMENT_ID

router = APIRouter(prefix="/v1", tags=["insights"], responses=FORWARDED, dependencies=[STORABLE_BODY])
MONTH = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
FromMonth = Annotated[str, Query(alias="from", pattern=MONTH, description="First month, e.g. `2025-04` (UTC)")]
ToMonth = Annotated[str, Query(pattern=MONTH, description="Last month, inclusive; at most 36 months after `from`")]
OfSegment = Annotated[
    str | None, Query(pattern=SEGMENT_ID, description="Only the segment's current members; default all customers")
]
BAD_RANGE = {
    422: {
        "description": "A month is malformed, or `to` is before `from` or more than 36 months after it.",
        "content": {
            "application/problem+json": {
                "example": {
                    "type": "about:blank",
                    "title": "Invalid month range",
                    "status": 422,
                    "errors": [{"path": "to", "message": "between from and 36 months after it"}],
                }
            }
        },
    }
}


# --- examples (the Kaffeerösterei's first quarter) ----------------------------------------------------------------

MONTH_EXAMPLE = {
    "month": "2026-01",
    "customers": 318,
    "orders": 402,
    "revenue_minor": 1869300,
    "average_order_value_minor": 4650,
    "repeat_customer_rate": 0.3821,
    "purchase_frequency_12m": 2.41,
    "historical_clv_minor": 11206,
    "churn_rate": 0.0714,
    "mean_days_between_orders": 41.3,
}
MODEL_EXAMPLE = {
    "status": "fitted",
    "params": {
        "bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
        "gamma_gamma": {"p": 6.25, "q": 3.74, "v": 15.44},
    },
    "customers": 2841,
    "fitted_at": "2026-03-05T02:00:00Z",
}
PREDICTION_EXAMPLE = {
    "customer_id": "c-4711",
    "probability_active": 0.87,
    "expected_orders_12m": 3.2,
    "predicted_clv_12m_minor": 15920,
    "expected_next_order_at": "2026-04-12T00:00:00Z",
    "computed_at": "2026-03-05T02:00:00Z",
}
DESTINATION_EXAMPLE = {
    "format": "meta",
    "url": "https://hooks.example.com/audiences/active-coffee",
    "signed": True,
    "last_synced_at": "2026-03-05T14:45:00Z",
    "last_added": 12,
    "last_removed": 3,
}


class CsvResponse(StreamingResponse):
    media_type = "text/csv"


class Kpis(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "by": "overall",
                "segment": "active-coffee",
                "months": [
                    MONTH_EXAMPLE,
                    MONTH_EXAMPLE | {"month": "2026-02", "customers": 297, "orders": 371, "revenue_minor": 1730150,
                                     "average_order_value_minor": 4663, "churn_rate": 0.0682},
                ],
            }
        }
    )  # fmt: skip
    by: Literal["overall", "channel", "cohort"]
    segment: str | None
    months: list[MonthKpis] | None = Field(None, description="`by=overall`: one entry per month")
    groups: dict[str, list[MonthKpis]] | None = Field(
        None, description="`by=channel` or `by=cohort`: the months of each first-order channel or cohort"
    )


class Cohorts(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "segment": None,
                "cohorts": [
                    {"cohort": "2026-01", "customers": 120, "retained": [1.0, 0.2833, 0.2167]},
                    {"cohort": "2026-02", "customers": 96, "retained": [1.0, 0.3125]},
                    {"cohort": "2026-03", "customers": 104, "retained": [1.0]},
                ],
            }
        }
    )
    segment: str | None
    cohorts: list[CohortRow] = Field(description="One row per first-order month; `retained[k]`: share k months on")


class PredictionModel(BaseModel):
    status: str = Field(description="`fitted`, `not_fitted_yet`, or why there is no model (too little history)")
    params: dict[str, Any] | None = None
    customers: int | None = None
    fitted_at: datetime | None = None


class CustomerPrediction(BaseModel):
    customer_id: str
    probability_active: float = Field(description="Probability the customer still buys (0…1)")
    expected_orders_12m: float
    predicted_clv_12m_minor: int = Field(description="Expected spend over the next 12 months, in minor units")
    expected_next_order_at: datetime | None = Field(description="Null if not expected within two years")
    computed_at: datetime


class CustomerPredictionWithModel(CustomerPrediction):
    model_config = ConfigDict(json_schema_extra={"example": PREDICTION_EXAMPLE | {"model": MODEL_EXAMPLE}})
    model: PredictionModel


class PredictionsPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "model": MODEL_EXAMPLE,
                "items": [
                    PREDICTION_EXAMPLE,
                    PREDICTION_EXAMPLE | {"customer_id": "c-4712", "probability_active": 0.31,
                                          "expected_orders_12m": 0.6, "predicted_clv_12m_minor": 2790,
                                          "expected_next_order_at": None},
                ],
                "next_cursor": "c-4712",
            }
        }
    )  # fmt: skip
    model: PredictionModel
    items: list[CustomerPrediction]
    next_cursor: str | None = Field(description="Pass as `after` for the next page; null on the last page")


class AudienceDestinationOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": DESTINATION_EXAMPLE})
    format: Literal["meta", "google"]
    url: str
    signed: bool = Field(description="Whether pushes are signed with a secret (the secret is never returned)")
    last_synced_at: datetime | None = None
    last_added: int | None = None
    last_removed: int | None = None


class Scheduled(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"status": "scheduled"}})
    status: Literal["scheduled"]


# --- KPIs ---------------------------------------------------------------------------------------------------------


@router.get("/kpis", summary="Monthly KPIs", response_model=Kpis, responses=BAD_RANGE)
async def merchant_kpis(
    runtime: RuntimeDep,
    from_: FromMonth,
    to: ToMonth,
    by: Annotated[
        Literal["overall", "channel", "cohort"], Query(description="All customers, or by first-order channel/cohort")
    ] = "overall",
    segment: OfSegment = None,
    merchant=require_scope("segments:read"),
) -> Response:
    """Per calendar month: customers, orders, revenue, average order value, 12-month repeat rate and purchase
    frequency, historical CLV, churn rate and the mean days between orders; overall, by first-order channel or
    cohort, optionally for a segment's current members only."""
    params = {"from": from_, "to": to, "by": by, "segment": segment}
    return await forward(runtime, merchant, "GET", "segments", "/kpis", params=params)


@router.get("/kpis/cohorts", summary="Cohort retention", response_model=Cohorts, responses=BAD_RANGE)
async def kpi_cohorts(
    runtime: RuntimeDep,
    from_: FromMonth,
    to: ToMonth,
    segment: OfSegment = None,
    merchant=require_scope("segments:read"),
) -> Response:
    """The retention triangle: of the customers who first bought in a month, the share buying again k months
    later (not cumulative)."""
    params = {"from": from_, "to": to, "segment": segment}
    return await forward(runtime, merchant, "GET", "segments", "/kpis/cohorts", params=params)


# --- predictions --------------------------------------------------------------------------------------------------


@router.get(
    "/customers/{customer_id}/prediction",
    summary="A customer's prediction",
    response_model=CustomerPredictionWithModel,
    responses=problem_responses(404),
)
async def customer_prediction(
    customer_id: CustomerId, runtime: RuntimeDep, merchant=require_scope("customers:read")
) -> Response:
    """Probability of being active, expected orders and CLV over 12 months, and the expected next order date, from
    the last nightly refresh. 404 while there is none (no model yet, or too little history)."""
    return await forward(runtime, merchant, "GET", "segments", f"/customers/{quote(customer_id, safe='')}/prediction")


@router.get("/predictions", summary="All predictions", response_model=PredictionsPage)
async def list_predictions(
    runtime: RuntimeDep,
    after: Annotated[str | None, Query(max_length=128, description="`next_cursor` of the previous page")] = None,
    limit: Annotated[int | None, Query(ge=1, le=1000, description="Page size; default 100")] = None,
    merchant=require_scope("customers:read"),
) -> Response:
    """The merchant's model (or why there is none yet) and every customer's prediction in customer-id order, a page
    at a time: pass `next_cursor` as `after` until it is null."""
    return await forward(runtime, merchant, "GET", "segments", "/predictions", params={"after": after, "limit": limit})


@router.post("/predictions/refresh", status_code=202, summary="Refresh predictions now", response_model=Scheduled)
async def refresh_predictions(runtime: RuntimeDep, merchant=require_scope("segments:write")) -> Response:
    """Refit the model and recompute every prediction now instead of with the nightly run (in the background)."""
    return await forward(runtime, merchant, "POST", "segments", "/predictions/refresh")


# --- retargeting audiences ----------------------------------------------------------------------------------------


@router.get(
    "/segments/{segment_id}/audience",
    summary="Download a segment's audience",
    response_class=CsvResponse,
    responses={
        200: {
            "description": "The CSV, streamed",
            "headers": {"Content-Disposition": {"schema": {"type": "string"}}},
            "content": {"text/csv": {"example": "EMAIL,PHONE,FN,LN,ZIP,CT,COUNTRY\n5f0c…,9a1e…,…\n"}},
        },
        **problem_responses(404),
    },
)
async def audience_csv(
    segment_id: SegmentId,
    runtime: RuntimeDep,
    format: Annotated[Literal["meta", "google"], Query(description="Meta Custom Audience or Google Customer Match")],
    merchant=require_scope("audiences:read"),
    _quota=quota("exports"),
) -> Response:
    """The segment's members with advertising consent, normalised and SHA-256-hashed in the ad platform's upload
    format, as a CSV file (streamed)."""
    return await forward(
        runtime, merchant, "GET", "segments", f"/segments/{segment_id}/audience", params={"format": format}, stream=True
    )


@router.get(
    "/segments/{segment_id}/audience-destination",
    summary="Where the audience is pushed",
    response_model=AudienceDestinationOut,
    responses=problem_responses(404),
)
async def get_audience_destination(
    segment_id: SegmentId, runtime: RuntimeDep, merchant=require_scope("audiences:read")
) -> Response:
    """The destination of the segment's audience pushes and the last sync (when, how many added and removed)."""
    return await forward(runtime, merchant, "GET", "segments", f"/segments/{segment_id}/audience-destination")


@router.put(
    "/segments/{segment_id}/audience-destination",
    summary="Push the audience to a destination",
    response_model=AudienceDestinationOut,
    responses=problem_responses(400, 404),
)
async def put_audience_destination(
    segment_id: SegmentId,
    body: Annotated[
        AudienceDestination,
        Body(
            openapi_examples={
                "meta": {
                    "value": {
                        "format": "meta",
                        "url": "https://hooks.example.com/audiences/active-coffee",
                        "secret": "a-long-random-signing-secret",
                    }
                }
            }
        ),
    ],
    runtime: RuntimeDep,
    merchant=require_scope("segments:write", "audiences:read"),
) -> Response:
    """Push the audience's additions and removals to `url` now and every 15 minutes, with retries; with a `secret`,
    each push is signed (`X-Retention-Signature`). Needs `segments:write` and `audiences:read`: the destination
    receives the audience."""
    return await forward(
        runtime,
        merchant,
        "PUT",
        "segments",
        f"/segments/{segment_id}/audience-destination",
        json=body.model_dump(mode="json", exclude_unset=True),
    )


@router.delete(
    "/segments/{segment_id}/audience-destination",
    status_code=204,
    summary="Stop pushing the audience",
    response_class=Response,
)
async def delete_audience_destination(
    segment_id: SegmentId, runtime: RuntimeDep, merchant=require_scope("segments:write", "audiences:read")
) -> Response:
    """Remove the destination and forget what was pushed to it (idempotent)."""
    return await forward(runtime, merchant, "DELETE", "segments", f"/segments/{segment_id}/audience-destination")


@router.post(
    "/segments/{segment_id}/audience-destination/sync",
    status_code=202,
    summary="Push the audience now",
    response_model=Scheduled,
    responses=problem_responses(404),
)
async def sync_audience_destination(
    segment_id: SegmentId, runtime: RuntimeDep, merchant=require_scope("segments:write", "audiences:read")
) -> Response:
    """Sync the destination now instead of at the next 15-minute run (in the background)."""
    return await forward(runtime, merchant, "POST", "segments", f"/segments/{segment_id}/audience-destination/sync")
