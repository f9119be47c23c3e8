"""Bonus credits (sign-up, review, goodwill, awards...), per-period caps and earn multipliers. Pure.

Bonus entries get ids from natural keys (the review, the shipment, the request), so the same cause
never credits twice however it arrives.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from services.common.envelope import Envelope
from services.loyalty.domain.book import Book, start_of_year
from services.loyalty.domain.earning import capped
from services.loyalty.domain.expiry import schedule_lot, touch
from services.loyalty.domain.model import Account, Entry, stable_id
from services.loyalty.domain.programme import Programme, ProgrammeConfig
from services.loyalty.domain.tiers import evaluate_upgrade

#: Bonus reasons the per-period caps do not limit: the merchant's own corrections and service recovery.
UNCAPPED = frozenset({"goodwill", "manual", "service_recovery"})


def caps(config: ProgrammeConfig) -> dict[str, int]:
    return {cap.period: cap.max_points for cap in config.caps}


def period_start(period: str, now: datetime) -> datetime:
    if period == "day":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start_of_year(now)


def granted_in_periods(account: Account, config: ProgrammeConfig, now: datetime) -> dict[str, int]:
    end = now + timedelta(microseconds=1)
    return {cap.period: account.qualifying("granted", period_start(cap.period, now), end) for cap in config.caps}


def customer_multiplier(account: Account, config: ProgrammeConfig, now: datetime) -> Decimal:
    multiplier = Decimal(1)
    tier = config.tiers.get(account.tier)
    if tier is not None:
        multiplier *= tier.earn_multiplier
    if membership_active(account, now) and (plan := config.memberships.get(account.membership_plan or "")):
        multiplier *= plan.earn_multiplier
    return multiplier


def membership_active(account: Account, now: datetime) -> bool:
    if account.membership_status not in ("active", "cancelled"):
        return False  # a cancelled membership keeps its perks until the paid period ends
    return account.membership_until is None or account.membership_until > now


def credit_bonus(
    book: Book,
    programme: Programme,
    merchant_id: str,
    account: Account,
    *,
    reason: str,
    points: int,
    natural_key: tuple[Any, ...],
    source: Envelope | None,
    now: datetime,
    kind: str = "bonus",
    order_id: str | None = None,
    shipment_id: str | None = None,
    review_id: str | None = None,
    note: str | None = None,
) -> Entry | None:
    """Credit available points once per natural key; caps apply except to goodwill and corrections."""
    if account.erased_at is not None:
        return None
    entry_id = stable_id(kind, merchant_id, *natural_key)
    if entry_id in book.known_entry_ids or entry_id in book.posted_ids:
        return None
    if reason not in UNCAPPED:
        points = capped(points, granted_in_periods(account, programme.config, now), caps(programme.config))
    if points <= 0:
        return None
    entry = book.post(
        merchant_id,
        account,
        Entry(
            entry_id=entry_id,
            customer_id=account.customer_id,
            kind=kind,
            bucket="available",
            points=points,
            reason_code=reason,
            source_event_id=source.event_id if source else entry_id,
            source_type=source.type if source else "loyalty.schedule",
            occurred_at=now,
            rule_version=programme.version,
            order_id=order_id,
            shipment_id=shipment_id,
            note=note,
        ),
    )
    account.record_activity(now, points=points, granted=points)
    book.emit(
        "loyalty.points_earned",
        merchant_id,
        {
            "customer_id": account.customer_id,
            "order_id": order_id,
            "shipment_id": shipment_id,
            "review_id": review_id,
            "points": points,
            "balance": account.available,
            "reason_code": reason,
            "ledger_entry_id": str(entry.entry_id),
            "source_event_id": str(entry.source_event_id),
        },
        cause=entry.entry_id,
        occurred_at=now,
    )
    if reason != "goodwill":  # notifications mentions goodwill in the delay apology: no second mail for it
        book.notify(
            merchant_id,
            account.customer_id,
            "points_earned",
            cause=entry.entry_id,
            occurred_at=now,
            order_id=order_id,
            variables={"points": points, "balance": account.available, "reason": reason},
        )
    touch(book, programme, merchant_id, account, now)
    schedule_lot(book, programme, merchant_id, account, entry)
    evaluate_upgrade(book, programme, merchant_id, account, now, cause=entry.entry_id)
    return entry
