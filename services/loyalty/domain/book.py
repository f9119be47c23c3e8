"""The unit of work the rules operate on: loaded accounts and orders plus everything a decision produced.

The adapter fills a `Book` for one batch (or one scheduled job, or one redemption), the rules mutate it,
and the adapter writes entries, accounts, orders, jobs and events back in the same transaction. Tests
run the same rules on a `Book` that lives in memory.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.common.envelope import Envelope, derived_event_id, new_envelope
from services.common.schedule import Job
from services.loyalty.domain.model import Account, Entry, Order, stable_id


@dataclass
class Book:
    accounts: dict[tuple[str, str], Account] = field(default_factory=dict)
    orders: dict[tuple[str, str], Order] = field(default_factory=dict)
    entries: list[tuple[str, Entry]] = field(default_factory=list)
    emitted: list[Envelope] = field(default_factory=list)
    #: Jobs to (re)schedule and keys to cancel, by key: the last decision about a key wins.
    jobs: dict[str, Job] = field(default_factory=dict)
    cancelled_jobs: set[str] = field(default_factory=set)
    new_accounts: set[tuple[str, str]] = field(default_factory=set)
    dirty_accounts: set[tuple[str, str]] = field(default_factory=set)
    dirty_orders: set[tuple[str, str]] = field(default_factory=set)
    #: Codes to persist: (merchant, customer, code, kind, details) for redemptions and vouchers.
    codes: list[dict[str, Any]] = field(default_factory=list)
    #: Entry ids the ledger already holds (found on a first write attempt); rules skip them on the rerun.
    known_entry_ids: set[uuid.UUID] = field(default_factory=set)
    #: Ids of `entries`, for constant-time "already posted in this unit of work?" checks.
    posted_ids: set[uuid.UUID] = field(default_factory=set)

    def account(self, merchant_id: str, customer_id: str) -> Account:
        key = (merchant_id, customer_id)
        if key not in self.accounts:
            self.accounts[key] = Account(customer_id)
            self.new_accounts.add(key)
        self.dirty_accounts.add(key)
        return self.accounts[key]

    def order(self, merchant_id: str, order_id: str, customer_id: str) -> Order:
        key = (merchant_id, order_id)
        if key not in self.orders:
            self.orders[key] = Order(order_id, customer_id)
        self.dirty_orders.add(key)
        return self.orders[key]

    def post(self, merchant_id: str, account: Account, entry: Entry) -> Entry:
        """Record an entry and fold it into the account; credits settle an open shortfall first."""
        self.entries.append((merchant_id, entry))
        self.posted_ids.add(entry.entry_id)
        account.apply(entry)
        if entry.bucket == "available" and entry.points > 0 and account.debt > 0:
            settle = min(account.debt, entry.points)
            account.debt -= settle
            settlement = Entry(
                entry_id=stable_id("settle", entry.entry_id),
                customer_id=entry.customer_id,
                kind="debt_settlement",
                bucket="available",
                points=-settle,
                reason_code="shortfall_settled",
                source_event_id=entry.entry_id,
                source_type="loyalty.ledger",
                occurred_at=entry.occurred_at,
                rule_version=entry.rule_version,
                order_id=entry.order_id,
                reverses_entry_id=entry.entry_id,
            )
            self.entries.append((merchant_id, settlement))
            self.posted_ids.add(settlement.entry_id)
            account.apply(settlement)
        return entry

    def emit(
        self, event_type: str, merchant_id: str, data: dict[str, Any], *, cause: uuid.UUID, occurred_at: datetime
    ) -> None:
        clean = {k: v for k, v in data.items() if v is not None}
        self.emitted.append(
            new_envelope(
                event_type,
                merchant_id,
                clean,
                occurred_at=occurred_at,
                event_id=derived_event_id(cause, event_type),
            )
        )

    def notify(
        self,
        merchant_id: str,
        customer_id: str,
        message: str,
        *,
        cause: uuid.UUID,
        occurred_at: datetime,
        variables: dict[str, Any],
        category: str = "transactional",
        order_id: str | None = None,
    ) -> None:
        """Ask notifications to tell the customer; it decides consent, timing and wording."""
        self.emit(
            "notification.requested",
            merchant_id,
            {
                "customer_id": customer_id,
                "message": message,
                "category": category,
                "trigger_id": f"loyalty:{message}:{cause}",
                "order_id": order_id,
                "variables": {k: v for k, v in variables.items() if v is not None},
            },
            cause=stable_id("notify", message, cause),
            occurred_at=occurred_at,
        )

    def schedule(self, key: str, kind: str, merchant_id: str, due_at: datetime, **payload: Any) -> None:
        self.cancelled_jobs.discard(key)
        self.jobs[key] = Job(key, kind, merchant_id, due_at, payload)

    def cancel(self, key: str) -> None:
        self.jobs.pop(key, None)
        self.cancelled_jobs.add(key)


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar months, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = moment.day
    while True:
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            day -= 1


def start_of_year(moment: datetime) -> datetime:
    return moment.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)


def one_year_back(moment: datetime) -> datetime:
    return moment - timedelta(days=365)
