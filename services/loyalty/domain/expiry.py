"""Points expiry, with a warning N days before: after N months without activity (earning or redeeming), or
per earned lot N months after it was earned, spending the oldest points first. Pure.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from services.loyalty.domain.book import Book, add_months
from services.loyalty.domain.model import Account, Entry, stable_id
from services.loyalty.domain.programme import Programme


def touch(book: Book, programme: Programme, merchant_id: str, account: Account, now: datetime) -> None:
    """Earning or redeeming is activity: it moves the inactivity expiry (and its warning) out."""
    if account.last_activity_at is None or now > account.last_activity_at:
        account.last_activity_at = now
    expiry = programme.config.expiry
    if expiry.mode != "inactivity":
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


def schedule_lot(book: Book, programme: Programme, merchant_id: str, account: Account, entry: Entry) -> None:
    """Per-lot expiry: every available credit gets its own expiry (and warning) job."""
    expiry = programme.config.expiry
    if expiry.mode != "lot" or entry.points <= 0:
        return
    expires_at = add_months(entry.occurred_at, expiry.months)
    payload = {
        "customer_id": account.customer_id,
        "entry_id": str(entry.entry_id),
        "points": entry.points,
        "earned_at": entry.occurred_at.isoformat(),
        "expires_at": expires_at.isoformat(),
    }
    book.schedule(f"lot:{entry.entry_id}", "expire_lot", merchant_id, expires_at, **payload)
    if expiry.warning_days:
        book.schedule(
            f"lot_warning:{entry.entry_id}",
            "warn_lot",
            merchant_id,
            expires_at - timedelta(days=expiry.warning_days),
            **payload,
        )


def unspent_of_lot(account: Account, payload: dict[str, Any]) -> int:
    """Oldest points are spent first: what is left of a lot is the balance not covered by newer credits."""
    newer = sum(a[1] for a in account.activity if a[0] > payload["earned_at"] and a[1] > 0)
    return max(0, min(int(payload["points"]), account.available - newer))


def warn_lot(
    book: Book, programme: Programme, merchant_id: str, account: Account, payload: dict[str, Any], now: datetime
) -> None:
    points = unspent_of_lot(account, payload)
    if points <= 0 or account.erased_at:
        return
    cause = stable_id("lot_expiring", payload["entry_id"])
    data = {
        "customer_id": account.customer_id,
        "points": points,
        "expires_at": payload["expires_at"],
        "balance": account.available,
    }
    book.emit("loyalty.points_expiring", merchant_id, data, cause=cause, occurred_at=now)
    book.notify(
        merchant_id,
        account.customer_id,
        "points_expiring",
        cause=cause,
        occurred_at=now,
        variables={"points": points, "expires_at": payload["expires_at"]},
    )


def expire_lot(
    book: Book, programme: Programme, merchant_id: str, account: Account, payload: dict[str, Any], now: datetime
) -> None:
    points = unspent_of_lot(account, payload)
    if points <= 0:
        return
    entry_id = stable_id("expire_lot", payload["entry_id"])
    entry = book.post(
        merchant_id,
        account,
        Entry(
            entry_id=entry_id,
            customer_id=account.customer_id,
            kind="expire",
            bucket="available",
            points=-points,
            reason_code="lot_expired",
            source_event_id=entry_id,
            source_type="loyalty.schedule",
            occurred_at=now,
            rule_version=programme.version,
            reverses_entry_id=None,
        ),
    )
    book.emit(
        "loyalty.points_expired",
        merchant_id,
        {
            "customer_id": account.customer_id,
            "points": points,
            "balance": account.available,
            "reason_code": "lot_expired",
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
