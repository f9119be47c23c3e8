"""The rewards catalogue and the rules of spending points. Pure: the adapter locks and persists."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from services.loyalty.domain import expiry
from services.loyalty.domain.book import Book
from services.loyalty.domain.model import Account, Entry
from services.loyalty.domain.programme import Programme

RewardType = Literal["fixed_amount", "percent_off", "free_shipping", "free_product"]


class Reward(BaseModel):
    """A catalogue item: what it gives and its price in points."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name_de: Annotated[str, Field(min_length=1, max_length=120)]
    name_en: Annotated[str, Field(min_length=1, max_length=120)]
    type: RewardType
    points_price: Annotated[StrictInt, Field(ge=1, le=10_000_000)]
    value_minor: Annotated[StrictInt | None, Field(ge=1, le=100_000_000)] = None
    percent_off: Annotated[StrictInt | None, Field(ge=1, le=100)] = None
    product_sku: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    #: Only customers in one of these tiers may redeem it (empty: everyone).
    tiers: tuple[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")], ...] = ()
    valid_days: Annotated[StrictInt | None, Field(ge=1, le=3650)] = None

    @model_validator(mode="after")
    def _value_matches_type(self) -> Reward:
        needs = {"fixed_amount": "value_minor", "percent_off": "percent_off", "free_product": "product_sku"}
        field = needs.get(self.type)
        if field and getattr(self, field) is None:
            raise ValueError(f"{field}: required for a {self.type} reward")
        return self


class RedemptionRefused(Exception):
    """A redemption the rules do not allow; `field` names the request field at fault."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field, self.message, self.status = field, message, status


@dataclass(frozen=True)
class Redemption:
    redemption_id: uuid.UUID
    code: str
    points: int
    expires_at: datetime
    details: dict[str, Any]


def redeem_reward(
    book: Book,
    programme: Programme,
    merchant_id: str,
    account: Account,
    reward_id: str,
    reward: Reward,
    *,
    redemption_id: uuid.UUID,
    code: str,
    now: datetime,
) -> Redemption:
    if reward.tiers and account.tier not in reward.tiers:
        raise RedemptionRefused("reward_id", f"reward {reward_id} is reserved for tiers {', '.join(reward.tiers)}")
    expires_at = now + timedelta(days=reward.valid_days or programme.config.code_valid_days)
    details = {
        "reward_id": reward_id,
        "reward_type": reward.type,
        "value_minor": reward.value_minor,
        "percent_off": reward.percent_off,
        "product_sku": reward.product_sku,
    }
    return _spend(
        book,
        programme,
        merchant_id,
        account,
        reward.points_price,
        "reward",
        redemption_id,
        code,
        now,
        expires_at,
        details,
        reward_name=reward.name_de,
    )


def pay_with_points(
    book: Book,
    programme: Programme,
    merchant_id: str,
    account: Account,
    points: int,
    order_total_minor: int,
    *,
    redemption_id: uuid.UUID,
    code: str,
    now: datetime,
) -> Redemption:
    rules = programme.config.points_payment
    if not rules.enabled:
        raise RedemptionRefused("points", "this shop does not take points as payment")
    if points < rules.min_points:
        raise RedemptionRefused("points", f"at least {rules.min_points} points per payment")
    if points > rules.max_points:
        raise RedemptionRefused("points", f"at most {rules.max_points} points per payment")
    value = points * rules.minor_per_point
    limit = order_total_minor * rules.max_share_percent // 100
    if value > limit:
        raise RedemptionRefused(
            "points",
            f"points may pay at most {rules.max_share_percent}% of the order ({limit // rules.minor_per_point} points)",
        )
    details = {
        "reward_id": "points-payment",
        "reward_type": "points_payment",
        "value_minor": value,
        "currency": programme.config.currency,
    }
    return _spend(
        book,
        programme,
        merchant_id,
        account,
        points,
        "points_payment",
        redemption_id,
        code,
        now,
        now + timedelta(days=1),
        details,
    )


def _spend(
    book: Book,
    programme: Programme,
    merchant_id: str,
    account: Account,
    points: int,
    kind: str,
    redemption_id: uuid.UUID,
    code: str,
    now: datetime,
    expires_at: datetime,
    details: dict[str, Any],
    reward_name: str | None = None,
) -> Redemption:
    if points > account.available:  # the balance never goes negative: refuse, do not overdraw
        raise RedemptionRefused("points", f"needs {points} points, the customer has {account.available} available")
    entry = book.post(
        merchant_id,
        account,
        Entry(
            entry_id=redemption_id,
            customer_id=account.customer_id,
            kind="redeem",
            bucket="available",
            points=-points,
            reason_code=kind,
            source_event_id=redemption_id,
            source_type="loyalty.redemption",
            occurred_at=now,
            rule_version=programme.version,
            note=details.get("reward_id"),
        ),
    )
    expiry.touch(book, programme, merchant_id, account, now)
    book.emit(
        "loyalty.points_redeemed",
        merchant_id,
        {
            "customer_id": account.customer_id,
            "points": points,
            "balance": account.available,
            "redemption_id": str(redemption_id),
            "kind": "points_payment" if kind == "points_payment" else "reward",
            "reward_id": details["reward_id"] if kind == "reward" else None,
            "ledger_entry_id": str(entry.entry_id),
        },
        cause=entry.entry_id,
        occurred_at=now,
    )
    redeemed = {
        "customer_id": account.customer_id,
        "redemption_id": str(redemption_id),
        "code": code,
        "expires_at": expires_at.isoformat(),
        "points": points,
        "reward_name": reward_name,
        "reward_id": details["reward_id"],
        "reward_type": details["reward_type"],
        "value_minor": details.get("value_minor"),
        "percent_off": details.get("percent_off"),
        "product_sku": details.get("product_sku"),
        "currency": programme.config.currency,
    }
    book.emit(
        "loyalty.reward_redeemed", merchant_id, redeemed, cause=stable_reward_cause(redemption_id), occurred_at=now
    )
    book.notify(
        merchant_id,
        account.customer_id,
        "reward_redeemed",
        cause=entry.entry_id,
        occurred_at=now,
        variables={k: v for k, v in redeemed.items() if k not in ("customer_id", "redemption_id")},
    )
    book.codes.append(
        {
            "merchant_id": merchant_id,
            "customer_id": account.customer_id,
            "code": code,
            "kind": kind,
            "redemption_id": redemption_id,
            "expires_at": expires_at,
            **details,
        }
    )
    return Redemption(redemption_id, code, points, expires_at, details)


def stable_reward_cause(redemption_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(redemption_id, "reward")
