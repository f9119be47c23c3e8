"""The loyalty programme through the merchant API: balances and history, programme, tiers, rewards, redemption.

Bodies are validated here with the loyalty service's own models (strict: unknown fields such as a
`merchant_id` or a balance are refused) and forwarded; the service's problems come back unchanged.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from services.common.envelope import ID_PATTERN
from services.gateway.api.deps import RATE_LIMITED, RuntimeDep, require_scope
from services.loyalty.domain.programme import ProgrammeConfig
from services.loyalty.domain.rewards import Reward
from services.loyalty.entrypoints.api import PayWithPoints, RedeemReward

router = APIRouter(prefix="/v1", tags=["loyalty"], responses=RATE_LIMITED)
CustomerId = Annotated[str, Path(pattern=ID_PATTERN, description="The shop's customer id")]
RewardId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", description="The reward's key, e.g. `five-off`")]
Language = Annotated[Literal["de", "en"], Query(description="Language of the history texts")]


def _base(merchant_id: str) -> str:
    return f"/internal/v1/merchants/{quote(merchant_id, safe='')}"


@router.get("/customers/{customer_id}/loyalty/history")
async def loyalty_history(
    customer_id: CustomerId,
    runtime: RuntimeDep,
    lang: Language = "de",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[int | None, Query(ge=1, description="`next_cursor` of the previous page")] = None,
    merchant=require_scope("loyalty:read"),
) -> Response:
    """Why did my points change? Ledger entries newest first, each with a sentence in German or English."""
    params: dict[str, Any] = {"lang": lang, "limit": limit} | ({"cursor": cursor} if cursor else {})
    return await runtime.extras["services"].send(
        "GET", "loyalty", f"{_base(merchant.merchant_id)}/customers/{customer_id}/loyalty/history", params=params
    )


@router.post("/customers/{customer_id}/redemptions", status_code=201)
async def redeem_reward(
    customer_id: CustomerId, body: RedeemReward, runtime: RuntimeDep, merchant=require_scope("loyalty:write")
) -> Response:
    """Spend points on a catalogue reward; returns a single-use discount code. Same `client_key` → same answer."""
    return await runtime.extras["services"].send(
        "POST",
        "loyalty",
        f"{_base(merchant.merchant_id)}/customers/{customer_id}/redemptions",
        json=body.model_dump(mode="json"),
    )


@router.post("/customers/{customer_id}/points-payments", status_code=201)
async def pay_with_points(
    customer_id: CustomerId, body: PayWithPoints, runtime: RuntimeDep, merchant=require_scope("loyalty:write")
) -> Response:
    """Points as partial payment at the programme's rate, within its minimum, maximum and share of the order."""
    return await runtime.extras["services"].send(
        "POST",
        "loyalty",
        f"{_base(merchant.merchant_id)}/customers/{customer_id}/points-payments",
        json=body.model_dump(mode="json"),
    )


@router.get("/loyalty/codes/{code}")
async def get_code(
    code: Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{6,40}$", description="A discount code from a redemption")],
    runtime: RuntimeDep,
    merchant=require_scope("loyalty:read"),
) -> Response:
    """For the checkout: whether a loyalty code is valid, used or expired, and what it gives."""
    return await runtime.extras["services"].send("GET", "loyalty", f"{_base(merchant.merchant_id)}/codes/{code}")


@router.get("/loyalty/programme")
async def get_programme(runtime: RuntimeDep, merchant=require_scope("loyalty:read")) -> Response:
    """The current programme and its version (0 = the platform default)."""
    return await runtime.extras["services"].send("GET", "loyalty", f"{_base(merchant.merchant_id)}/programme")


@router.put("/loyalty/programme")
async def put_programme(
    config: ProgrammeConfig, runtime: RuntimeDep, merchant=require_scope("config:write")
) -> Response:
    """Save a new programme version: earning, bonuses, caps, pending rules, tiers, expiry, goodwill, memberships."""
    return await runtime.extras["services"].send(
        "PUT", "loyalty", f"{_base(merchant.merchant_id)}/programme", json=config.model_dump(mode="json")
    )


@router.get("/loyalty/tiers")
async def get_tiers(runtime: RuntimeDep, merchant=require_scope("loyalty:read")) -> Response:
    """Tier levels with thresholds and benefits, and how customers qualify."""
    return await runtime.extras["services"].send("GET", "loyalty", f"{_base(merchant.merchant_id)}/tiers")


@router.get("/loyalty/rewards")
async def get_rewards(runtime: RuntimeDep, merchant=require_scope("loyalty:read")) -> Response:
    """The active rewards catalogue with points prices."""
    return await runtime.extras["services"].send("GET", "loyalty", f"{_base(merchant.merchant_id)}/rewards")


@router.put("/loyalty/rewards/{reward_id}")
async def put_reward(
    reward_id: RewardId, reward: Reward, runtime: RuntimeDep, merchant=require_scope("config:write")
) -> Response:
    """Create or change a reward (fixed amount, percent off, free shipping, free product)."""
    return await runtime.extras["services"].send(
        "PUT", "loyalty", f"{_base(merchant.merchant_id)}/rewards/{reward_id}", json=reward.model_dump(mode="json")
    )


@router.delete("/loyalty/rewards/{reward_id}", status_code=204)
async def delete_reward(reward_id: RewardId, runtime: RuntimeDep, merchant=require_scope("config:write")) -> Response:
    """Withdraw a reward from the catalogue (codes already issued stay valid)."""
    return await runtime.extras["services"].send(
        "DELETE", "loyalty", f"{_base(merchant.merchant_id)}/rewards/{reward_id}"
    )
