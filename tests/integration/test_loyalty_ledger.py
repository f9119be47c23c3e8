"""The loyalty service's consumer and schedule on real PostgreSQL (and the real broker for dead letters)."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.common.consumer import BatchConsumer, RawMessage
from services.common.contract import load_contract
from services.common.envelope import Envelope
from services.common.migrations import apply_migrations, migrations_for
from services.common.schedule import Scheduler
from services.loyalty.adapters import catalogue
from services.loyalty.bootstrap import SPEC as LOYALTY
from services.loyalty.domain.programme import Expiry, ProgrammeConfig, Tier, Tiers
from services.loyalty.domain.rewards import RedemptionRefused, Reward
from services.loyalty.entrypoints.consumers import subscriptions
from services.loyalty.entrypoints.jobs import job_handlers
from tests.loyalty_model import (
    MERCHANT,
    LoyaltyModel,
    event,
    order_delivered,
    order_paid,
    order_placed,
    order_refunded,
    order_returned,
    review,
    shipment_delayed,
)
from tests.support import consume_until

CONTRACT = load_contract()
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
LINES = [("l1", 2, 4000, "shoes"), ("l2", 1, 2000, "socks"), ("l3", 1, 5000, "gift_card")]


@pytest.fixture
async def pool(schema_pool) -> asyncpg.Pool:
    schema, pool = schema_pool
    await apply_migrations(pool, schema, migrations_for(LOYALTY.migrations))
    return pool


class Loyalty:
    """The service's consumer and scheduler over one schema, fed envelopes for one merchant."""

    def __init__(self, pool: asyncpg.Pool, producer, metrics, merchant_id: str) -> None:
        self.pool, self.merchant_id = pool, merchant_id
        (subscription,) = subscriptions()
        self.consumer = BatchConsumer(
            service="loyalty",
            subscription=subscription,
            pool=pool,
            producer=producer,
            contract=CONTRACT,
            metrics=metrics,
        )
        self.scheduler = Scheduler(
            service="loyalty", pool=pool, contract=CONTRACT, handlers=job_handlers(), metrics=metrics
        )
        self.offset = 0

    def own(self, envelope: Envelope) -> Envelope:
        return envelope.model_copy(update={"merchant_id": self.merchant_id})

    async def deliver(self, *envelopes: Envelope):
        messages = []
        for envelope in envelopes:
            mine = self.own(envelope)
            self.offset += 1
            messages.append(RawMessage(CONTRACT.topic_for(mine.type).name, 0, self.offset, b"k", mine.to_bytes()))
        return await self.consumer.process_batch(messages)

    async def run_jobs(self, now: datetime) -> int:
        return await self.scheduler.run_until_idle(now)

    async def account(self, customer_id: str = "c1") -> asyncpg.Record:
        return await self.pool.fetchrow(
            "SELECT * FROM accounts WHERE merchant_id = $1 AND customer_id = $2", self.merchant_id, customer_id
        )

    async def entries(self, customer_id: str = "c1") -> list[asyncpg.Record]:
        return await self.pool.fetch(
            "SELECT * FROM ledger_entries WHERE merchant_id = $1 AND customer_id = $2 ORDER BY id",
            self.merchant_id,
            customer_id,
        )

    async def emitted(self, event_type: str) -> list[Envelope]:
        rows = await self.pool.fetch("SELECT payload FROM outbox ORDER BY id")
        return [e for e in (Envelope.from_bytes(r["payload"]) for r in rows) if e.type == event_type]

    async def assert_accounts_equal_ledger(self) -> None:
        mismatches = await self.pool.fetch(
            """
            SELECT a.customer_id, a.available, a.pending, l.available AS l_available, l.pending AS l_pending
            FROM accounts a LEFT JOIN (
                SELECT merchant_id, customer_id,
                       coalesce(sum(points) FILTER (WHERE bucket = 'available'), 0) AS available,
                       coalesce(sum(points) FILTER (WHERE bucket = 'pending'), 0) AS pending
                FROM ledger_entries GROUP BY 1, 2) l USING (merchant_id, customer_id)
            WHERE a.merchant_id = $1
              AND (a.available <> coalesce(l.available, 0) OR a.pending <> coalesce(l.pending, 0))
            """,
            self.merchant_id,
        )
        assert mismatches == []


@pytest.fixture
def loyalty(pool, producer, kernel_metrics, merchant_id) -> Loyalty:
    return Loyalty(pool, producer, kernel_metrics, merchant_id)


async def test_pending_points_confirm_when_tracking_reports_delivery_plus_the_return_window(loyalty) -> None:
    await loyalty.deliver(order_placed("c1", "o1", T0, LINES), order_paid("c1", "o1", T0 + timedelta(minutes=3)))
    account = await loyalty.account()
    assert (account["available"], account["pending"]) == (0, 60)
    (pending,) = await loyalty.emitted("loyalty.points_pending")
    assert pending.data["points"] == 60 and "available_at" not in pending.data
    assert any(n.data["message"] == "points_pending" for n in await loyalty.emitted("notification.requested"))

    delivered = T0 + timedelta(days=3)
    await loyalty.deliver(order_delivered("c1", "o1", delivered))
    assert await loyalty.run_jobs(delivered + timedelta(days=13)) == 0  # the fallback job moved to delivery + 14d
    assert await loyalty.run_jobs(delivered + timedelta(days=14, minutes=1)) >= 1

    account = await loyalty.account()
    assert (account["available"], account["pending"], account["lifetime_earned"]) == (160, 0, 160)
    (confirmed,) = await loyalty.emitted("loyalty.points_confirmed")
    assert confirmed.data["points"] == 60 and confirmed.data["pending_entry_id"] == pending.data["ledger_entry_id"]
    await loyalty.assert_accounts_equal_ledger()


async def test_a_partial_refund_reverses_the_lines_points_with_a_reference_to_the_earning(loyalty) -> None:
    await loyalty.deliver(
        order_placed("c1", "o1", T0, LINES), order_paid("c1", "o1", T0), order_delivered("c1", "o1", T0)
    )
    await loyalty.run_jobs(T0 + timedelta(days=15))
    await loyalty.deliver(order_refunded("c1", "o1", T0 + timedelta(days=20), {"l1": 1}, "rf-1"))
    await loyalty.deliver(order_returned("c1", "o1", T0 + timedelta(days=21), {"l1": 1}, "rt-1"))  # same unit

    entries = await loyalty.entries()
    confirm = next(e for e in entries if e["kind"] == "confirm")
    reversals = [e for e in entries if e["kind"] == "reversal"]
    assert [(r["points"], r["reverses_entry_id"], r["reason_code"]) for r in reversals] == [
        (-20, confirm["entry_id"], "order_refunded")
    ]
    assert (await loyalty.account())["available"] == 140
    await loyalty.assert_accounts_equal_ledger()


async def test_tier_upgrade_is_immediate_and_the_downgrade_waits_for_the_period_end(loyalty, pool) -> None:
    tiers = Tiers(
        levels=(
            Tier(key="welcome", name_de="Willkommen", name_en="Welcome", threshold=0),
            Tier(key="gold", name_de="Gold", name_en="Gold", threshold=150, free_shipping=True),
        )
    )
    await catalogue.save_programme(pool, loyalty.merchant_id, ProgrammeConfig(tiers=tiers, bonuses={"first_order": 0}))
    await loyalty.deliver(
        order_placed("c1", "o1", T0, [("l1", 1, 20000, "shoes")]),
        order_paid("c1", "o1", T0),
        order_delivered("c1", "o1", T0),
    )
    await loyalty.run_jobs(T0 + timedelta(days=15))
    assert (await loyalty.account())["tier"] == "gold"

    await loyalty.run_jobs(T0 + timedelta(days=300))
    assert (await loyalty.account())["tier"] == "gold"
    await loyalty.run_jobs(T0 + timedelta(days=15 + 366))
    assert (await loyalty.account())["tier"] == "welcome"
    changes = [
        (e.data.get("from_tier"), e.data["to_tier"], e.data["direction"])
        for e in await loyalty.emitted("loyalty.tier_changed")
    ]
    assert changes == [(None, "welcome", "initial"), ("welcome", "gold", "upgrade"), ("gold", "welcome", "downgrade")]
    entries = await loyalty.entries()
    assert {e["rule_version"] for e in entries} == {1}  # every entry names the programme version behind it


async def test_concurrent_redemptions_never_spend_the_same_points(loyalty, pool) -> None:
    await loyalty.deliver(
        order_placed("c1", "o1", T0, LINES), order_paid("c1", "o1", T0), order_delivered("c1", "o1", T0)
    )
    await loyalty.run_jobs(T0 + timedelta(days=15))  # 160 available
    reward = Reward(name_de="10 € Rabatt", name_en="€10 off", type="fixed_amount", points_price=100, value_minor=1000)
    await catalogue.save_reward(pool, loyalty.merchant_id, "ten-off", reward)

    async def redeem(key: str):
        try:
            return await catalogue.redeem(
                pool,
                CONTRACT,
                loyalty.merchant_id,
                "c1",
                {"reward_id": "ten-off", "client_key": key},
                T0 + timedelta(days=16),
            )
        except RedemptionRefused as refused:
            return refused

    results = await asyncio.gather(*(redeem(f"key-{i:04d}") for i in range(6)))
    won = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, RedemptionRefused)]
    assert len(won) == 1 and len(refused) == 5 and all(r.field == "points" for r in refused)
    assert (await loyalty.account())["available"] == 60

    same = await asyncio.gather(*(redeem("same-key-1") for _ in range(4)))  # 60 points left: all refused alike
    assert all(isinstance(r, RedemptionRefused) for r in same)
    codes = await pool.fetch("SELECT code FROM codes WHERE merchant_id = $1", loyalty.merchant_id)
    assert len(codes) == 1 and won[0][0]["code"] == codes[0]["code"]
    await loyalty.assert_accounts_equal_ledger()


async def test_same_idempotency_key_concurrently_redeems_once(loyalty, pool) -> None:
    await loyalty.deliver(
        order_placed("c1", "o1", T0, LINES), order_paid("c1", "o1", T0), order_delivered("c1", "o1", T0)
    )
    await loyalty.run_jobs(T0 + timedelta(days=15))
    await catalogue.save_reward(
        pool,
        loyalty.merchant_id,
        "ship",
        Reward(name_de="Versand frei", name_en="Free shipping", type="free_shipping", points_price=50),
    )
    body = {"reward_id": "ship", "client_key": "checkout-4711"}
    results = await asyncio.gather(
        *(catalogue.redeem(pool, CONTRACT, loyalty.merchant_id, "c1", body, T0 + timedelta(days=16)) for _ in range(5))
    )
    assert sum(created for _, created in results) == 1
    assert len({response["code"] for response, _ in results}) == 1
    assert (await loyalty.account())["available"] == 110
    with pytest.raises(catalogue.IdempotencyConflict):
        await catalogue.redeem(pool, CONTRACT, loyalty.merchant_id, "c1", {**body, "reward_id": "other"}, T0)


async def test_points_expire_after_inactivity_with_a_warning_first(loyalty, pool) -> None:
    await catalogue.save_programme(pool, loyalty.merchant_id, ProgrammeConfig(expiry=Expiry(months=2, warning_days=10)))
    await loyalty.deliver(review("c1", "rv-1", T0, photo=True))  # 50 available at once
    await loyalty.run_jobs(T0 + timedelta(days=40))
    assert await loyalty.emitted("loyalty.points_expiring") == []
    await loyalty.run_jobs(datetime(2026, 4, 23, 10, 0, tzinfo=UTC))  # 2 months - 10 days
    (warning,) = await loyalty.emitted("loyalty.points_expiring")
    assert warning.data["points"] == 50 and warning.data["expires_at"].startswith("2026-05-02")
    await loyalty.run_jobs(datetime(2026, 5, 2, 10, 0, 1, tzinfo=UTC))
    (expired,) = await loyalty.emitted("loyalty.points_expired")
    assert expired.data["points"] == 50 and (await loyalty.account())["available"] == 0
    await loyalty.assert_accounts_equal_ledger()


async def test_activity_moves_the_expiry_out(loyalty, pool) -> None:
    await catalogue.save_programme(pool, loyalty.merchant_id, ProgrammeConfig(expiry=Expiry(months=2, warning_days=10)))
    await loyalty.deliver(review("c1", "rv-1", T0))
    await loyalty.deliver(review("c1", "rv-2", T0 + timedelta(days=50)))
    await loyalty.run_jobs(datetime(2026, 5, 3, tzinfo=UTC))
    assert await loyalty.emitted("loyalty.points_expired") == []
    assert (await loyalty.account())["available"] == 40


async def test_goodwill_for_a_delayed_parcel_is_credited_once(loyalty) -> None:
    await loyalty.deliver(shipment_delayed("c1", "o1", "s-1", T0))
    await loyalty.deliver(shipment_delayed("c1", "o1", "s-1", T0 + timedelta(hours=6)))  # reported again
    goodwill = [e for e in await loyalty.entries() if e["kind"] == "goodwill"]
    assert [(g["points"], g["shipment_id"]) for g in goodwill] == [(50, "s-1")]
    (earned,) = await loyalty.emitted("loyalty.points_earned")
    assert earned.data["reason_code"] == "goodwill" and earned.data["shipment_id"] == "s-1"


async def test_erasure_forgets_the_person_and_keeps_pseudonymous_totals(loyalty, pool) -> None:
    created = event(
        "customer.created",
        T0,
        {
            "customer_id": "c1",
            "email": "a@example.de",
            "first_name": "Anna",
            "last_name": "Muster",
            "salutation": "frau",
            "locale": "de-DE",
            "birthday": "1990-06-01",
            "is_guest": False,
        },
    )
    await loyalty.deliver(created)
    assert await pool.fetchval("SELECT count(*) FROM scheduled_jobs WHERE kind = 'birthday_points'") == 1
    await loyalty.deliver(
        event("customer.erasure_requested", T0 + timedelta(days=1), {"customer_id": "c1", "request_id": "er-1"})
    )
    account = await loyalty.account()
    assert account["state"]["birthday"] is None and account["state"]["erased_at"] is not None
    assert account["available"] == 50 and account["lifetime_earned"] == 50  # the signup bonus stays counted
    assert await pool.fetchval("SELECT count(*) FROM scheduled_jobs WHERE kind = 'birthday_points'") == 0
    await loyalty.run_jobs(T0 + timedelta(days=400))
    assert [e["reason_code"] for e in await loyalty.entries()] == ["signup"]


async def test_bad_loyalty_events_are_dead_lettered_with_the_field(loyalty, infra, merchant_id) -> None:
    bad = event(
        "membership.purchased",
        T0,
        {
            "membership_id": "mb-1",
            "customer_id": "c1",
            "plan_id": "club",
            "valid_until": "2027-01-01",
            "price_minor": -5,
            "currency": "EUR",
        },
    )
    outcome = await loyalty.deliver(bad)
    assert outcome.applied == [] and len(outcome.dead_lettered) == 1
    records = await consume_until(infra.kafka, "shop.customers.dlq", lambda r: merchant_id.encode() in (r.value or b""))
    reason = dict(records[0].headers)["x-dlq-reason"].decode()
    assert "data.valid_until" in reason and "data.price_minor" in reason


async def test_the_database_path_matches_the_rules_on_a_random_stream(loyalty) -> None:
    """Persistence round-trips everything the rules need: batches of any size give the in-memory result."""
    rng = random.Random(11)
    stream: list[Envelope] = []
    now = T0
    for n in range(120):
        now += timedelta(minutes=rng.randint(1, 600))
        customer, order = f"c{rng.randint(1, 8)}", f"o{rng.randint(1, 25)}"
        roll = rng.random()
        if roll < 0.35:
            stream += [
                order_placed(customer, f"{customer}-{order}", now, LINES),
                order_paid(customer, f"{customer}-{order}", now),
            ]
        elif roll < 0.5:
            stream.append(order_delivered(customer, f"{customer}-{order}", now))
        elif roll < 0.65:
            stream.append(order_returned(customer, f"{customer}-{order}", now, {rng.choice(["l1", "l2"]): 1}, f"r{n}"))
        elif roll < 0.8:
            stream.append(review(customer, f"rv{n % 30}", now, photo=rng.random() < 0.3))
        else:
            stream.append(shipment_delayed(customer, f"{customer}-{order}", f"s{n % 10}", now))
    model = LoyaltyModel()
    model.deliver(stream)
    model.run_jobs(now + timedelta(days=60))

    i = 0
    while i < len(stream):
        size = rng.randint(1, 40)
        await loyalty.deliver(*stream[i : i + size], *stream[max(0, i - 3) : i])  # with redeliveries
        i += size
    await loyalty.run_jobs(now + timedelta(days=60))

    rows = await loyalty.pool.fetch(
        "SELECT customer_id, available, pending, lifetime_earned, debt FROM accounts WHERE merchant_id = $1",
        loyalty.merchant_id,
    )
    assert {r["customer_id"]: (r["available"], r["pending"], r["lifetime_earned"], r["debt"]) for r in rows} == (
        model.balances()
    )
    assert MERCHANT != loyalty.merchant_id
    await loyalty.assert_accounts_equal_ledger()


async def test_one_cause_under_two_event_ids_credits_once_and_the_account_stays_right(loyalty) -> None:
    """A shop that resends a review with a new event id passes the inbox; the ledger's natural key stops it."""
    first = review("c1", "rv-dup", T0)
    resent = first.model_copy(update={"event_id": uuid.uuid4()})
    await loyalty.deliver(first)
    outcome = await loyalty.deliver(resent, review("c1", "rv-other", T0))
    assert len(outcome.applied) == 2
    assert [(e["reason_code"], e["points"]) for e in await loyalty.entries()] == [("review", 20), ("review", 20)]
    assert (await loyalty.account())["available"] == 40
    await loyalty.assert_accounts_equal_ledger()
