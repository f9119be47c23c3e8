"""First-order and referral bonuses, tenure vouchers, birthday points: the retention automations. Pure."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from services.loyalty.domain.bonuses import credit_bonus
from services.loyalty.domain.book import Book, add_months
from services.loyalty.domain.model import Account, Order, stable_id
from services.loyalty.domain.programme import Programme


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
    book: Book,
    programme: Programme,
    merchant_id: str,
    account: Account,
    payload: dict[str, Any],
    now: datetime,
    code: str | None = None,
) -> None:
    if account.birthday is None or account.erased_at is not None:
        return
    due = datetime.fromisoformat(payload["birthday_on"]) if payload.get("birthday_on") else now
    if now - due > timedelta(days=3):  # a birthday long past (imported history, an outage): no belated points
        schedule_birthday(book, merchant_id, account, now)
        return
    entry = credit_bonus(
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
    # The greeting goes out with or without points (a zero bonus, a cap), once a year: marketing, by consent.
    cause = stable_id("birthday-greeting", merchant_id, account.customer_id, now.year)
    voucher = programme.config.birthday_voucher
    variables: dict[str, Any] = {"points": entry.points if entry else None}
    if code is not None and voucher.percent_off > 0:
        expires_at = now + timedelta(days=voucher.valid_days)
        book.codes.append(
            {
                "merchant_id": merchant_id,
                "customer_id": account.customer_id,
                "code": code,
                "kind": "birthday_voucher",
                "percent_off": voucher.percent_off,
                "expires_at": expires_at,
                "redemption_id": cause,  # one code per customer and year, however often the job runs
            }
        )
        variables |= {"code": code, "percent_off": voucher.percent_off, "code_expires_at": expires_at.isoformat()}
    book.notify(
        merchant_id,
        account.customer_id,
        "birthday",
        cause=cause,
        occurred_at=now,
        category="marketing",
        variables=variables,
    )
    schedule_birthday(book, merchant_id, account, now + timedelta(days=1))
