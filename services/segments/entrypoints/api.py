"""Segments' internal HTTP API for one customer: profile, segments, and why they are (not) in a segment."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path

from services.common.envelope import ID_PATTERN
from services.common.http import problem
from services.common.service_app import Runtime
from services.segments.adapters import store
from services.segments.domain.conditions import Explanation, explain
from services.segments.domain.membership import Segment, current_lifecycle, current_rfm, customer_facts
from services.segments.domain.profiles import Profile
from services.segments.entrypoints.segments_api import SEGMENT_ID

CustomerId = Annotated[str, Path(pattern=ID_PATTERN)]
SegmentId = Annotated[str, Path(pattern=SEGMENT_ID)]


def router(runtime: Runtime, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> APIRouter:
    api = APIRouter(prefix="/internal/v1/merchants/{merchant_id}", tags=["segments"])

    async def load(merchant_id: str, customer_id: str) -> store.StoredProfile | None:
        async with runtime.pool.acquire() as conn:
            found = (await store.load_profiles(conn, [(merchant_id, customer_id)], lock=False))[
                (merchant_id, customer_id)
            ]
        return found if found.exists else None

    @api.get("/customers/{customer_id}/profile")
    async def customer_profile(merchant_id: str, customer_id: CustomerId) -> Any:
        """Person data, location, channel, lifecycle phase, order figures, products, codes, reviews, tier, RFM,
        consent and segments of one customer, as of now."""
        stored = await load(merchant_id, customer_id)
        if stored is None:
            return _unknown(customer_id)
        async with runtime.pool.acquire() as conn:
            cuts = (await store.rfm_cuts(conn, [merchant_id])).get(merchant_id)
        return public_profile(stored, cuts, clock())

    @api.get("/customers/{customer_id}/segments")
    async def customer_segments(merchant_id: str, customer_id: CustomerId) -> Any:
        stored = await load(merchant_id, customer_id)
        if stored is None:
            return _unknown(customer_id)
        return {"items": [{"segment_id": k, "entered_at": v} for k, v in sorted(stored.memberships.items())]}

    @api.get("/customers/{customer_id}/segments/{segment_id}/explain")
    async def explain_membership(merchant_id: str, customer_id: CustomerId, segment_id: SegmentId) -> Any:
        """Which conditions hold for the customer now, node by node, with the values that decided them."""
        stored = await load(merchant_id, customer_id)
        if stored is None:
            return _unknown(customer_id)
        async with runtime.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM segments WHERE merchant_id = $1 AND segment_id = $2 AND deleted_at IS NULL",
                merchant_id,
                segment_id,
            )
            cuts = (await store.rfm_cuts(conn, [merchant_id])).get(merchant_id)
        if row is None:
            return problem(404, "Unknown segment", f"no segment {segment_id}",
                           errors=[{"path": "segment_id", "message": "unknown"}])  # fmt: skip
        segment = Segment.from_stored(segment_id, row["version"], row["name"], row["definition"], row["actions"])
        now = clock()
        profile = stored.profile
        if not profile.erased:
            profile = replace(profile, rfm=current_rfm(profile, cuts, now))
        why = explain(segment.tree, customer_facts(profile, now), now)
        return {
            "customer_id": customer_id,
            "segment_id": segment_id,
            "version": segment.version,
            "member": segment_id in stored.memberships,
            "holds_now": why.held and not profile.erased,
            "explanation": _tree(why),
            "text": "\n".join(why.lines()),
        }

    return api


def public_profile(stored: store.StoredProfile, cuts: Any, now: datetime) -> dict[str, Any]:
    p: Profile = stored.profile
    o = p.orders
    rfm = current_rfm(p, cuts, now) if not p.erased else None
    products = sorted(k.removeprefix("product:") for k in o.purchases if k.startswith("product:"))
    categories = sorted(k.removeprefix("category:") for k in o.purchases if k.startswith("category:"))
    return {
        "customer_id": p.customer_id,
        "erased": p.erased,
        "person": {**p.person, "birthday": p.birthday.isoformat() if p.birthday else None} if not p.erased else {},
        "location": {"city": p.city, "postcode": p.postcode, "country": p.country},
        "acquisition_channel": o.acquisition_channel,
        "marketing_source": p.marketing_source,
        "lifecycle": current_lifecycle(p, now) if not p.erased else p.lifecycle,
        "orders": {
            "count": o.order_count,
            "revenue_minor": o.revenue_minor,
            "currency": o.currency,
            "average_order_value_minor": o.revenue_minor // o.order_count if o.order_count else 0,
            "first_order_at": o.first_order_at,
            "last_order_at": o.last_order_at,
            "mean_days_between_orders": o.mean_days_between_orders,
        },
        "products_bought": products,
        "categories_bought": categories,
        "discount_codes": list(o.discount_codes),
        "reviews": {"count": p.review_count, "average_rating": p.average_rating},
        "tier": p.tier,
        "open_cart": p.open_cart,
        "rfm": dict(zip(("recency", "frequency", "monetary", "group"), rfm, strict=True)) if rfm else None,
        "consents": p.consents,
        "segments": sorted(stored.memberships),
    }


def _tree(why: Explanation) -> dict[str, Any]:
    out = {k: v for k, v in asdict(why).items() if k != "parts"}
    out["parts"] = [_tree(p) for p in why.parts]
    return out


def _unknown(customer_id: str) -> Any:
    return problem(404, "Customer not found", f"no profile for {customer_id}",
                   errors=[{"path": "customer_id", "message": "unknown"}])  # fmt: skip
