"""Loyalty's internal HTTP API, called by the gateway with the merchant taken from the API key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from services.common.envelope import ID_PATTERN
from services.common.http import problem
from services.common.service_app import Runtime
from services.loyalty.adapters import catalogue
from services.loyalty.adapters.store import account_from_row
from services.loyalty.domain import bonuses
from services.loyalty.domain.history import describe
from services.loyalty.domain.programme import ProgrammeConfig
from services.loyalty.domain.rewards import RedemptionRefused, Reward
from services.loyalty.metrics import LoyaltyMetrics

CustomerId = Annotated[str, Path(pattern=ID_PATTERN)]
RewardId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
ClientKey = Annotated[str, Field(min_length=8, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")]


class RedeemReward(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reward_id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
    client_key: ClientKey


class PayWithPoints(BaseModel):
    model_config = ConfigDict(extra="forbid")
    points: Annotated[StrictInt, Field(ge=1, le=10_000_000)]
    order_total_minor: Annotated[StrictInt, Field(ge=1, le=100_000_000_000)]
    client_key: ClientKey


def router(runtime: Runtime, metrics: LoyaltyMetrics | None = None) -> APIRouter:
    api = APIRouter(prefix="/internal/v1/merchants/{merchant_id}", tags=["loyalty"])

    @api.get("/customers/{customer_id}/loyalty")
    async def customer_loyalty(
        merchant_id: str, customer_id: CustomerId, lang: Literal["de", "en"] = "de"
    ) -> dict[str, Any]:
        """Balances, tier with its benefits, membership, codes and the latest history of one customer."""
        row = await catalogue.account_row(runtime.pool, merchant_id, customer_id)
        if row is None:
            return _unknown_customer(customer_id)  # type: ignore[return-value]
        account = account_from_row(row)
        programme = await catalogue.programme_of(runtime.pool, merchant_id)
        tier = programme.config.tiers.get(account.tier)
        now = datetime.now(UTC)
        plan = programme.config.memberships.get(account.membership_plan or "")
        entries = await catalogue.history_page(runtime.pool, merchant_id, customer_id, before_id=None, limit=20)
        return {
            "customer_id": customer_id,
            "balance": account.available,
            "available": account.available,
            "pending": account.pending,
            "lifetime_earned": account.lifetime_earned,
            "redeemed": account.redeemed,
            "expired": account.expired,
            "reversed": account.reversed,
            "shortfall": account.debt,
            "last_activity_at": account.last_activity_at,
            "tier": {
                "key": account.tier,
                "name": (tier.name_de if lang == "de" else tier.name_en) if tier else None,
                "since": account.tier_since,
                "review_at": account.tier_review_at,
                "earn_multiplier": str(tier.earn_multiplier) if tier else "1",
                "free_shipping": bool(tier and tier.free_shipping),
                "exclusive_rewards": list(tier.exclusive_rewards) if tier else [],
            },
            "membership": {
                "plan_id": account.membership_plan,
                "status": account.membership_status,
                "valid_until": account.membership_until,
                "active": bonuses.membership_active(account, now),
                "free_shipping": bool(plan and plan.free_shipping and bonuses.membership_active(account, now)),
            },
            "codes": await catalogue.codes_of(runtime.pool, merchant_id, customer_id),
            "history": [_entry(r, lang) for r in entries],
        }

    @api.get("/customers/{customer_id}/loyalty/history")
    async def customer_history(
        merchant_id: str,
        customer_id: CustomerId,
        lang: Literal["de", "en"] = "de",
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[int | None, Query(ge=1, description="`next_cursor` of the previous page")] = None,
    ) -> dict[str, Any]:
        """Ledger entries newest first, each with a sentence answering "why did my points change?"."""
        if await catalogue.account_row(runtime.pool, merchant_id, customer_id) is None:
            return _unknown_customer(customer_id)  # type: ignore[return-value]
        rows = await catalogue.history_page(runtime.pool, merchant_id, customer_id, before_id=cursor, limit=limit)
        return {
            "items": [_entry(r, lang) for r in rows],
            "next_cursor": rows[-1]["id"] if len(rows) == limit else None,
        }

    @api.get("/programme")
    async def get_programme(merchant_id: str) -> dict[str, Any]:
        programme = await catalogue.programme_of(runtime.pool, merchant_id)
        return {"version": programme.version, "config": programme.config.model_dump(mode="json")}

    @api.put("/programme")
    async def put_programme(merchant_id: str, config: ProgrammeConfig) -> dict[str, Any]:
        """Validate and save a new version; entries from now on carry it."""
        programme = await catalogue.save_programme(runtime.pool, merchant_id, config)
        return {"version": programme.version, "config": programme.config.model_dump(mode="json")}

    @api.get("/tiers")
    async def get_tiers(merchant_id: str) -> dict[str, Any]:
        tiers = (await catalogue.programme_of(runtime.pool, merchant_id)).config.tiers
        return tiers.model_dump(mode="json")

    @api.get("/rewards")
    async def get_rewards(merchant_id: str) -> dict[str, Any]:
        return {"items": await catalogue.list_rewards(runtime.pool, merchant_id)}

    @api.put("/rewards/{reward_id}")
    async def put_reward(merchant_id: str, reward_id: RewardId, reward: Reward) -> dict[str, Any]:
        await catalogue.save_reward(runtime.pool, merchant_id, reward_id, reward)
        return {"reward_id": reward_id, "active": True, **reward.model_dump(mode="json")}

    @api.delete("/rewards/{reward_id}", status_code=204)
    async def delete_reward(merchant_id: str, reward_id: RewardId) -> Response:
        if not await catalogue.deactivate_reward(runtime.pool, merchant_id, reward_id):
            return problem(404, "Unknown reward", f"no reward {reward_id}", errors=[_err("reward_id", "unknown")])
        return Response(status_code=204)

    @api.get("/codes/{code}")
    async def get_code(merchant_id: str, code: Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{6,40}$")]) -> Any:
        """Checkout check: a code is valid once, until it expires; an `order.placed` that uses it spends it."""
        status = await catalogue.code_status(runtime.pool, merchant_id, code, datetime.now(UTC))
        if status is None:
            return problem(404, "Unknown code", f"no code {code}", errors=[_err("code", "unknown")])
        return status

    @api.post("/customers/{customer_id}/redemptions", status_code=201)
    async def redeem_reward(merchant_id: str, customer_id: CustomerId, body: RedeemReward) -> Any:
        """Spend points on a catalogue reward: a single-use code. Same `client_key` → same answer."""
        return await _redeem(merchant_id, customer_id, body.model_dump())

    @api.post("/customers/{customer_id}/points-payments", status_code=201)
    async def pay_with_points(merchant_id: str, customer_id: CustomerId, body: PayWithPoints) -> Any:
        """Points as partial payment: a single-use code worth the points, within the programme's limits."""
        return await _redeem(merchant_id, customer_id, body.model_dump())

    async def _redeem(merchant_id: str, customer_id: str, body: dict[str, Any]) -> Any:
        try:
            response, created = await catalogue.redeem(
                runtime.pool, runtime.contract, merchant_id, customer_id, body, datetime.now(UTC)
            )
        except RedemptionRefused as refused:
            title = "Unknown customer" if refused.status == 404 else "Redemption refused"
            return problem(refused.status, title, refused.message, errors=[_err(refused.field, refused.message)])
        except catalogue.IdempotencyConflict:
            return problem(
                422,
                "Idempotency key reused",
                "client_key was already used with a different request",
                errors=[_err("client_key", "already used with a different body")],
            )
        runtime.relay.wake()
        if created and metrics is not None:
            metrics.redemptions.labels(response["reward_type"]).inc()
            metrics.points.labels("redeemed").inc(response["points"])
        return JSONResponse(response, status_code=201 if created else 200)

    return api


def _entry(row: Any, lang: str) -> dict[str, Any]:
    entry = dict(row)
    entry.pop("id", None)
    entry["description"] = describe(entry, lang)
    return entry


def _err(path: str, message: str) -> dict[str, str]:
    return {"path": path, "message": message}


def _unknown_customer(customer_id: str) -> JSONResponse:
    return problem(
        404, "Unknown customer", f"no loyalty account for {customer_id}", errors=[_err("customer_id", "unknown")]
    )
