"""The loyalty programme through the merchant API: balances and history, programme, tiers, rewards, redemption.

Bodies are validated here with the loyalty service's own models (strict: unknown fields such as a
`merchant_id` or a balance are refused) and forwarded; the service's problems come back unchanged.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import Response

from services.common.envelope import ID_PATTERN
from services.gateway.api.deps import (
    FORWARDED,
    WITH_BODY,
    RuntimeDep,
    example_response,
    problem_responses,
    require_scope,
)
from services.gateway.api.routes.text_guard import STORABLE_BODY
from services.loyalty.domain.programme import ProgrammeConfig
from services.loyalty.domain.rewards import Reward
from services.loyalty.entrypoints.api import PayWithPoints, RedeemReward

router = APIRouter(prefix="/v1", tags=["loyalty"], responses=FORWARDED, dependencies=[STORABLE_BODY])
CustomerId = Annotated[str, Path(pattern=ID_PATTERN, description="The shop's customer id", examples=["c-4711"])]
RewardId = Annotated[
    str,
    Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", description="The reward's key, e.g. `five-off`", examples=["five-off"]),
]
Language = Annotated[Literal["de", "en"], Query(description="Language of the history texts")]


# --- examples (the Kaffeerösterei's customer c-4711; amounts in EUR cents) ------------------------------------------

HISTORY_EXAMPLE = {
    "items": [
        {"entry_id": "e3df6c86-6fb3-449e-a755-a164e241bae0", "kind": "redeem", "bucket": "available", "points": -50,
         "shortfall": 0, "reason_code": "reward", "order_id": None, "shipment_id": None, "rule_version": 3,
         "reverses_entry_id": None, "source_type": "loyalty.redemption", "occurred_at": "2026-03-05T14:31:00Z",
         "description": "50 Punkte für eine Prämie eingelöst."},
        {"entry_id": "86317ac5-bae5-5876-ad7f-cffbf1aeabf5", "kind": "pending", "bucket": "pending", "points": 49,
         "shortfall": 0, "reason_code": "purchase", "order_id": "o-100234", "shipment_id": None, "rule_version": 3,
         "reverses_entry_id": None, "source_type": "order.paid", "occurred_at": "2026-03-05T14:30:00Z",
         "description": "49 Punkte für deine Bestellung o-100234 vorgemerkt – sie werden nach der Zustellung und dem "
                        "Ende der Rückgabefrist gutgeschrieben."},
    ],
    "next_cursor": 1742,
}  # fmt: skip
REDEMPTION_EXAMPLE = {
    "redemption_id": "e3df6c86-6fb3-449e-a755-a164e241bae0",
    "code": "LOY-7KQ2MZP4XW9T",
    "points": 500,
    "balance": 149,
    "expires_at": "2026-06-03T14:31:00+00:00",
    "reward_id": "five-off",
    "reward_type": "fixed_amount",
    "value_minor": 500,
}
POINTS_PAYMENT_EXAMPLE = {
    "redemption_id": "0c4b9e2f-7d1a-4f3e-9b8c-5a6d7e8f9a0b",
    "code": "LOY-P3RT8VN2QH6D",
    "points": 1000,
    "balance": 249,
    "expires_at": "2026-06-03T14:31:00+00:00",
    "reward_id": "points-payment",
    "reward_type": "points_payment",
    "value_minor": 1000,
    "currency": "EUR",
}
CODE_EXAMPLE = {
    "code": "LOY-7KQ2MZP4XW9T",
    "customer_id": "c-4711",
    "kind": "reward",
    "details": {"reward_id": "five-off", "reward_type": "fixed_amount", "value_minor": 500, "percent_off": None,
                "product_sku": None},
    "expires_at": "2026-06-03T14:31:00Z",
    "used_at": None,
    "created_at": "2026-03-05T14:31:00Z",
    "status": "valid",
    "valid": True,
}  # fmt: skip
TIERS_EXAMPLE = {
    "basis": "points",
    "period": "rolling_12_months",
    "levels": [
        {"key": "welcome", "name_de": "Willkommen", "name_en": "Welcome", "threshold": 0, "earn_multiplier": "1",
         "free_shipping": False, "exclusive_rewards": []},
        {"key": "silver", "name_de": "Silber", "name_en": "Silver", "threshold": 500, "earn_multiplier": "1.25",
         "free_shipping": False, "exclusive_rewards": []},
        {"key": "gold", "name_de": "Gold", "name_en": "Gold", "threshold": 1500, "earn_multiplier": "1.5",
         "free_shipping": True, "exclusive_rewards": ["roestkurs"]},
    ],
}  # fmt: skip
PROGRAMME_CONFIG_EXAMPLE = {
    "currency": "EUR",
    "earning": {"points_per_unit": 1, "unit_minor": 100, "rounding": "floor", "exclude_tax": True,
                "exclude_discounts": True, "excluded_categories": ["gutschein"], "excluded_skus": [],
                "category_multipliers": {"coffee": "2"}, "sku_multipliers": {}},
    "bonuses": {"signup": 50, "first_order": 100, "review": 20, "review_photo": 50, "birthday": 100,
                "referral_referrer": 200, "referral_referee": 100, "tenure": 0, "vip": 0, "campaign": 0,
                "service_recovery": 0, "manual": 0},
    "caps": [],
    "pending": {"return_window_days": 14, "fallback_days": 30},
    "tiers": TIERS_EXAMPLE,
    "expiry": {"mode": "inactivity", "months": 24, "warning_days": 30},
    "goodwill": {"points": 50},
    "tenure": {"enabled": True, "percent_off": 10, "valid_days": 30},
    "birthday_voucher": {"percent_off": 10, "valid_days": 30},
    "memberships": {},
    "points_payment": {"enabled": True, "minor_per_point": 1, "min_points": 500, "max_points": 100000,
                       "max_share_percent": 50},
    "code_valid_days": 90,
}  # fmt: skip
PROGRAMME_EXAMPLE = {"version": 3, "config": PROGRAMME_CONFIG_EXAMPLE}
REWARD_EXAMPLE = {"type": "fixed_amount", "name_de": "5 € Rabatt", "name_en": "€5 off", "points_price": 500,
                  "value_minor": 500}  # fmt: skip
REWARD_OUT_EXAMPLE = {"reward_id": "five-off", "active": True, "percent_off": None, "product_sku": None, "tiers": [],
                      "valid_days": None, **REWARD_EXAMPLE}  # fmt: skip
REWARDS_EXAMPLE = {
    "items": [
        REWARD_OUT_EXAMPLE,
        {"reward_id": "free-shipping", "active": True, "type": "free_shipping", "name_de": "Versandkostenfrei",
         "name_en": "Free shipping", "points_price": 300, "value_minor": None, "percent_off": None,
         "product_sku": None, "tiers": [], "valid_days": 60},
    ]
}  # fmt: skip

#: A redemption or points payment: new (201), or the first answer again for a repeated `client_key` (200).
REDEEMED: dict[int | str, dict[str, Any]] = {
    200: {"description": "The same `client_key` was sent before: the first answer again, nothing spent twice"},
    404: problem_responses(404)[404] | {"description": "No loyalty account for this customer"},
    422: problem_responses(422)[422]
    | {"description": "Invalid input, or refused by the programme's rules (too few points, a tier-only reward …)"},
    **WITH_BODY,
}


def redeemed_again(example: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    return {200: REDEEMED[200] | example_response(200, example)[200]}


def _base(merchant_id: str) -> str:
    return f"/internal/v1/merchants/{quote(merchant_id, safe='')}"


@router.get(
    "/customers/{customer_id}/loyalty/history",
    responses=example_response(200, HISTORY_EXAMPLE) | problem_responses(404),
)
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


@router.post(
    "/customers/{customer_id}/redemptions",
    status_code=201,
    responses=REDEEMED | example_response(201, REDEMPTION_EXAMPLE) | redeemed_again(REDEMPTION_EXAMPLE),
)
async def redeem_reward(
    customer_id: CustomerId,
    body: Annotated[
        RedeemReward,
        Body(openapi_examples={"five-off": {"value": {"reward_id": "five-off", "client_key": "checkout-7f3a9c21"}}}),
    ],
    runtime: RuntimeDep,
    merchant=require_scope("loyalty:write"),
) -> Response:
    """Spend points on a catalogue reward; returns a single-use discount code. Same `client_key` → same answer."""
    return await runtime.extras["services"].send(
        "POST",
        "loyalty",
        f"{_base(merchant.merchant_id)}/customers/{customer_id}/redemptions",
        json=body.model_dump(mode="json"),
    )


@router.post(
    "/customers/{customer_id}/points-payments",
    status_code=201,
    responses=REDEEMED | example_response(201, POINTS_PAYMENT_EXAMPLE) | redeemed_again(POINTS_PAYMENT_EXAMPLE),
)
async def pay_with_points(
    customer_id: CustomerId,
    body: Annotated[
        PayWithPoints,
        Body(
            openapi_examples={
                "ten-euros": {
                    "summary": "1,000 points towards an order of 49.75 €",
                    "value": {"points": 1000, "order_total_minor": 4975, "client_key": "checkout-8b1d2e44"},
                }
            }
        ),
    ],
    runtime: RuntimeDep,
    merchant=require_scope("loyalty:write"),
) -> Response:
    """Points as partial payment at the programme's rate, within its minimum, maximum and share of the order."""
    return await runtime.extras["services"].send(
        "POST",
        "loyalty",
        f"{_base(merchant.merchant_id)}/customers/{customer_id}/points-payments",
        json=body.model_dump(mode="json"),
    )


@router.get("/loyalty/codes/{code}", responses=example_response(200, CODE_EXAMPLE) | problem_responses(404))
async def get_code(
    code: Annotated[
        str,
        Path(
            pattern=r"^[A-Za-z0-9-]{6,40}$",
            description="A discount code from a redemption",
            examples=["LOY-7KQ2MZP4XW9T"],
        ),
    ],
    runtime: RuntimeDep,
    merchant=require_scope("loyalty:read"),
) -> Response:
    """For the checkout: whether a loyalty code is valid, used or expired, and what it gives."""
    return await runtime.extras["services"].send("GET", "loyalty", f"{_base(merchant.merchant_id)}/codes/{code}")


@router.get("/loyalty/programme", responses=example_response(200, PROGRAMME_EXAMPLE))
async def get_programme(runtime: RuntimeDep, merchant=require_scope("loyalty:read")) -> Response:
    """The current programme and its version (0 = the platform default)."""
    return await runtime.extras["services"].send("GET", "loyalty", f"{_base(merchant.merchant_id)}/programme")


@router.put("/loyalty/programme", responses=WITH_BODY | example_response(200, PROGRAMME_EXAMPLE))
async def put_programme(
    config: Annotated[
        ProgrammeConfig,
        Body(
            openapi_examples={
                "double-coffee": {"summary": "Double points on coffee", "value": PROGRAMME_CONFIG_EXAMPLE}
            }
        ),
    ],
    runtime: RuntimeDep,
    merchant=require_scope("config:write"),
) -> Response:
    """Save a new programme version: earning, bonuses, caps, pending rules, tiers, expiry, goodwill, memberships."""
    return await runtime.extras["services"].send(
        "PUT", "loyalty", f"{_base(merchant.merchant_id)}/programme", json=config.model_dump(mode="json")
    )


@router.get("/loyalty/tiers", responses=example_response(200, TIERS_EXAMPLE))
async def get_tiers(runtime: RuntimeDep, merchant=require_scope("loyalty:read")) -> Response:
    """Tier levels with thresholds and benefits, and how customers qualify."""
    return await runtime.extras["services"].send("GET", "loyalty", f"{_base(merchant.merchant_id)}/tiers")


@router.get("/loyalty/rewards", responses=example_response(200, REWARDS_EXAMPLE))
async def get_rewards(runtime: RuntimeDep, merchant=require_scope("loyalty:read")) -> Response:
    """The active rewards catalogue with points prices."""
    return await runtime.extras["services"].send("GET", "loyalty", f"{_base(merchant.merchant_id)}/rewards")


@router.put("/loyalty/rewards/{reward_id}", responses=WITH_BODY | example_response(200, REWARD_OUT_EXAMPLE))
async def put_reward(
    reward_id: RewardId,
    reward: Annotated[Reward, Body(openapi_examples={"five-off": {"summary": "5 € off", "value": REWARD_EXAMPLE}})],
    runtime: RuntimeDep,
    merchant=require_scope("config:write"),
) -> Response:
    """Create or change a reward (fixed amount, percent off, free shipping, free product)."""
    return await runtime.extras["services"].send(
        "PUT", "loyalty", f"{_base(merchant.merchant_id)}/rewards/{reward_id}", json=reward.model_dump(mode="json")
    )


@router.delete(
    "/loyalty/rewards/{reward_id}", status_code=204, response_class=Response, responses=problem_responses(404)
)
async def delete_reward(reward_id: RewardId, runtime: RuntimeDep, merchant=require_scope("config:write")) -> Response:
    """Withdraw a reward from the catalogue (codes already issued stay valid)."""
    return await runtime.extras["services"].send(
        "DELETE", "loyalty", f"{_base(merchant.merchant_id)}/rewards/{reward_id}"
    )
