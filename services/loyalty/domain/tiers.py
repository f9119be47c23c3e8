"""Tiers: welcome tier on joining, immediate upgrades, downgrades only at the end of the period. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from services.loyalty.domain.book import Book, start_of_year
from services.loyalty.domain.model import Account, stable_id
from services.loyalty.domain.programme import Programme


def _window(programme: Programme, now: datetime) -> tuple[datetime, datetime]:
    if programme.config.tiers.period == "calendar_year":
        return start_of_year(now), now + timedelta(microseconds=1)
    return now - timedelta(days=365), now + timedelta(microseconds=1)


def _next_review(programme: Programme, now: datetime) -> datetime:
    if programme.config.tiers.period == "calendar_year":
        return start_of_year(now).replace(year=now.year + 1)
    return now + timedelta(days=365)


def ensure_tier(book: Book, programme: Programme, merchant_id: str, account: Account, now: datetime) -> None:
    """New members start in the welcome tier straight away."""
    if account.tier is None:
        _change_tier(
            book,
            programme,
            merchant_id,
            account,
            programme.config.tiers.levels[0].key,
            now,
            cause=stable_id("welcome", merchant_id, account.customer_id),
            qualifying=0,
        )


def evaluate_upgrade(
    book: Book, programme: Programme, merchant_id: str, account: Account, now: datetime, *, cause: Any
) -> None:
    ensure_tier(book, programme, merchant_id, account, now)
    tiers = programme.config.tiers
    value = account.qualifying(tiers.basis, *_window(programme, now))
    reached = tiers.for_value(value)
    if tiers.rank(reached.key) > tiers.rank(account.tier):  # upgrades are immediate, downgrades wait
        _change_tier(
            book,
            programme,
            merchant_id,
            account,
            reached.key,
            now,
            cause=stable_id("up", cause, reached.key),
            qualifying=value,
        )


def review_tier(book: Book, programme: Programme, merchant_id: str, account: Account, now: datetime) -> None:
    """At the period's end: keep or lower the tier by what was earned in the period just ended."""
    tiers = programme.config.tiers
    if tiers.period == "calendar_year":
        end = start_of_year(now)
        value = account.qualifying(tiers.basis, end.replace(year=end.year - 1), end)
    else:
        value = account.qualifying(tiers.basis, now - timedelta(days=365), now)
    qualified = tiers.for_value(value)
    if tiers.rank(qualified.key) < tiers.rank(account.tier):
        _change_tier(
            book,
            programme,
            merchant_id,
            account,
            qualified.key,
            now,
            cause=stable_id("down", merchant_id, account.customer_id, now.isoformat()),
            qualifying=value,
        )
    else:
        _schedule_review(book, programme, merchant_id, account, now)


def _schedule_review(book: Book, programme: Programme, merchant_id: str, account: Account, now: datetime) -> None:
    account.tier_review_at = _next_review(programme, now)
    book.schedule(
        f"tier_review:{merchant_id}:{account.customer_id}",
        "review_tier",
        merchant_id,
        account.tier_review_at,
        customer_id=account.customer_id,
    )


def _change_tier(
    book: Book,
    programme: Programme,
    merchant_id: str,
    account: Account,
    new: str,
    now: datetime,
    *,
    cause: Any,
    qualifying: int,
) -> None:
    tiers = programme.config.tiers
    old = account.tier
    direction = "initial" if old is None else ("upgrade" if tiers.rank(new) > tiers.rank(old) else "downgrade")
    account.tier, account.tier_since = new, now
    _schedule_review(book, programme, merchant_id, account, now)
    tier = tiers.get(new)
    assert tier is not None
    book.emit(
        "loyalty.tier_changed",
        merchant_id,
        {
            "customer_id": account.customer_id,
            "from_tier": old,
            "to_tier": new,
            "direction": direction,
            "basis": tiers.basis,
            "qualifying_value": qualifying,
            "earn_multiplier": str(tier.earn_multiplier),
            "free_shipping": tier.free_shipping,
            "review_at": account.tier_review_at.isoformat() if account.tier_review_at else None,
        },
        cause=cause,
        occurred_at=now,
    )
    if direction == "upgrade":
        book.notify(
            merchant_id,
            account.customer_id,
            "tier_reached",
            cause=cause,
            occurred_at=now,
            variables={
                "tier": new,
                "tier_name_de": tier.name_de,
                "tier_name_en": tier.name_en,
                "earn_multiplier": str(tier.earn_multiplier),
                "free_shipping": tier.free_shipping,
            },
        )
