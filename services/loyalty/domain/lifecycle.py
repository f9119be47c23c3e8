"""Everything around purchase points: bonuses, goodwill, tiers, expiry, tenure, birthdays, memberships.

Pure rules over a `Book`, with `now` passed in. Bonus entries get ids from natural keys (the review,
the shipment, the request), so the same cause never credits twice however it arrives.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from services.common.envelope import Envelope
from services.loyalty.domain.book import Book, add_months, start_of_year
from services.loyalty.domain.earning import capped
from services.loyalty.domain.model import Account, Entry, Order, stable_id
from services.loyalty.domain.programme import Programme, ProgrammeConfig

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
    if entry_id in book.known_entry_ids or any(e.entry_id == entry_id for _, e in book.entries):
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
    if reason != "goodwill":  # the delay apology mail mentions goodwill; no second mail for it
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
    evaluate_upgrade(book, programme, merchant_id, account, now, cause=entry.entry_id)
    return entry


# --- activity and expiry ------------------------------------------------------------------------------------------


def touch(book: Book, programme: Programme, merchant_id: str, account: Account, now: datetime) -> None:
    """Earning or redeeming is activity: it moves the inactivity expiry (and its warning) out."""
    if account.last_activity_at is None or now > account.last_activity_at:
        account.last_activity_at = now
    expiry = programme.config.expiry
    if expiry.mode == "none":
        return
    expires_at = add_months(account.last_activity_at, expiry.months)
    key = f"{merchant_id}:{account.customer_id}"
    stamp = account.last_activity_at.isoformat()
    book.schedule(
        f"expiry:{key}", "expire_points", merchant_id, expires_at, customer_id=account.customer_id, activity_at=stamp
    )
    if expiry.warning_days:
        book.schedule(
            f"expiry_warning:{key}",
            "warn_expiry",
            merchant_id,
            expires_at - timedelta(days=expiry.warning_days),
            customer_id=account.customer_id,
            activity_at=stamp,
        )


def _still_inactive(account: Account, payload: dict[str, Any]) -> bool:
    return account.last_activity_at is not None and account.last_activity_at.isoformat() == payload["activity_at"]


def warn_expiry(
    book: Book, programme: Programme, merchant_id: str, account: Account, payload: dict[str, Any], now: datetime
) -> None:
    if not _still_inactive(account, payload) or account.available <= 0 or account.erased_at:
        return
    expires_at = add_months(account.last_activity_at, programme.config.expiry.months)  # type: ignore[arg-type]
    cause = stable_id("expiring", merchant_id, account.customer_id, payload["activity_at"])
    data = {
        "customer_id": account.customer_id,
        "points": account.available,
        "expires_at": expires_at.isoformat(),
        "balance": account.available,
    }
    book.emit("loyalty.points_expiring", merchant_id, data, cause=cause, occurred_at=now)
    book.notify(
        merchant_id,
        account.customer_id,
        "points_expiring",
        cause=cause,
        occurred_at=now,
        variables={"points": account.available, "expires_at": expires_at.isoformat()},
    )


def expire(
    book: Book, programme: Programme, merchant_id: str, account: Account, payload: dict[str, Any], now: datetime
) -> None:
    if not _still_inactive(account, payload) or account.available <= 0:
        return
    points = account.available
    entry_id = stable_id("expire", merchant_id, account.customer_id, payload["activity_at"])
    entry = book.post(
        merchant_id,
        account,
        Entry(
            entry_id=entry_id,
            customer_id=account.customer_id,
            kind="expire",
            bucket="available",
            points=-points,
            reason_code="inactivity",
            source_event_id=entry_id,
            source_type="loyalty.schedule",
            occurred_at=now,
            rule_version=programme.version,
        ),
    )
    book.emit(
        "loyalty.points_expired",
        merchant_id,
        {
            "customer_id": account.customer_id,
            "points": points,
            "balance": account.available,
            "reason_code": "inactivity",
            "ledger_entry_id": str(entry.entry_id),
        },
        cause=entry.entry_id,
        occurred_at=now,
    )
    book.notify(
        merchant_id,
        account.customer_id,
        "points_expired",
        cause=entry.entry_id,
        occurred_at=now,
        variables={"points": points},
    )


# --- tiers ----------------------------------------------------------------------------------------------------------


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


# --- first order, referral, tenure, birthday ---------------------------------------------------------------------


def on_order_confirmed(
    book: Book, programme: Programme, merchant_id: str, account: Account, order: Order, now: datetime
) -> None:
    if account.first_order_id is not None:
        return
    account.first_order_id, account.first_order_at = order.order_id, order.paid_at or now
    bonuses = programme.config.bonuses
    credit_bonus(
        book,
        programme,
        merchant_id,
        account,
        reason="first_order",
        points=bonuses.first_order,
        natural_key=("first_order", account.customer_id),
        source=None,
        now=now,
        order_id=order.order_id,
    )
    if account.referred_by and account.referred_by != account.customer_id:
        credit_bonus(
            book,
            programme,
            merchant_id,
            account,
            reason="referral_referee",
            points=bonuses.referral_referee,
            natural_key=("referee", account.customer_id),
            source=None,
            now=now,
            order_id=order.order_id,
        )
        referrer = book.account(merchant_id, account.referred_by)
        credit_bonus(
            book,
            programme,
            merchant_id,
            referrer,
            reason="referral_referrer",
            points=bonuses.referral_referrer,
            natural_key=("referrer", account.customer_id),
            source=None,
            now=now,
            note=f"referred {account.customer_id}",
        )
    if programme.config.tenure.enabled:
        book.schedule(
            f"tenure:{merchant_id}:{account.customer_id}",
            "tenure_voucher",
            merchant_id,
            add_months(account.first_order_at, 12),
            customer_id=account.customer_id,
            years=1,
        )


def tenure_voucher(
    book: Book,
    programme: Programme,
    merchant_id: str,
    account: Account,
    payload: dict[str, Any],
    now: datetime,
    code: str,
) -> None:
    years = int(payload.get("years", 1))
    tenure = programme.config.tenure
    if account.erased_at is None and tenure.enabled and account.first_order_at is not None:
        cause = stable_id("tenure", merchant_id, account.customer_id, years)
        expires_at = now + timedelta(days=tenure.valid_days)
        book.codes.append(
            {
                "merchant_id": merchant_id,
                "customer_id": account.customer_id,
                "code": code,
                "kind": "tenure_voucher",
                "percent_off": tenure.percent_off,
                "expires_at": expires_at,
                "redemption_id": cause,
            }
        )
        book.notify(
            merchant_id,
            account.customer_id,
            "tenure_voucher",
            cause=cause,
            occurred_at=now,
            category="marketing",
            variables={
                "years": years,
                "code": code,
                "percent_off": tenure.percent_off,
                "code_expires_at": expires_at.isoformat(),
            },
        )
        if tenure_points := programme.config.bonuses.tenure:
            credit_bonus(
                book,
                programme,
                merchant_id,
                account,
                reason="tenure",
                points=tenure_points,
                natural_key=("tenure", account.customer_id, years),
                source=None,
                now=now,
            )
        book.schedule(
            f"tenure:{merchant_id}:{account.customer_id}",
            "tenure_voucher",
            merchant_id,
            add_months(account.first_order_at, 12 * (years + 1)),
            customer_id=account.customer_id,
            years=years + 1,
        )


def next_birthday(birthday: date, now: datetime) -> datetime:
    for year in (now.year, now.year + 1):
        try:
            candidate = datetime.combine(birthday.replace(year=year), time(6, 0), tzinfo=now.tzinfo)
        except ValueError:  # 29 February outside a leap year: celebrate on 28 February
            candidate = datetime.combine(date(year, 2, 28), time(6, 0), tzinfo=now.tzinfo)
        if candidate > now:
            return candidate
    raise AssertionError("unreachable")


def schedule_birthday(book: Book, merchant_id: str, account: Account, now: datetime) -> None:
    key = f"birthday:{merchant_id}:{account.customer_id}"
    if account.birthday is None or account.erased_at is not None:
        book.cancel(key)
        return
    due = next_birthday(account.birthday, now)
    book.schedule(
        key, "birthday_points", merchant_id, due, customer_id=account.customer_id, birthday_on=due.isoformat()
    )


def birthday_points(
    book: Book, programme: Programme, merchant_id: str, account: Account, payload: dict[str, Any], now: datetime
) -> None:
    if account.birthday is None or account.erased_at is not None:
        return
    due = datetime.fromisoformat(payload["birthday_on"]) if payload.get("birthday_on") else now
    if now - due > timedelta(days=3):  # a birthday long past (imported history, an outage): no belated points
        schedule_birthday(book, merchant_id, account, now)
        return
    credit_bonus(
        book,
        programme,
        merchant_id,
        account,
        reason="birthday",
        points=programme.config.bonuses.birthday,
        natural_key=("birthday", account.customer_id, now.year),
        source=None,
        now=now,
    )
    schedule_birthday(book, merchant_id, account, now + timedelta(days=1))
