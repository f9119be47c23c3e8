"""Segments' consumer: every customer-related event folds into the profile, then the touched customers (and only
they) are reassessed against the merchant's segments, in the batch's one transaction.

Cost per batch is a fixed handful of statements (orders, profiles, orders of touched customers, segments, RFM
cuts, save), independent of how many customers the merchant has that the batch did not touch.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg

from services.common.consumer import Subscription
from services.common.envelope import Envelope, derived_event_id, new_envelope
from services.common.erasures import record_erasures
from services.common.schedule import Job, schedule_jobs
from services.segments.adapters import store
from services.segments.domain.profiles import add_orders, apply_event, summarise_orders, with_orders
from services.segments.domain.reassess import reassess
from services.segments.metrics import SegmentsMetrics

TOPICS = ("shop.orders", "shop.customers", "shop.reviews", "shop.carts", "loyalty.events", "tracking.events")
ORDER_FIGURES = frozenset({"order.placed", "order.cancelled", "order.refunded"})
HISTORY_NEEDED = frozenset({"order.cancelled", "order.refunded"})
EVENT_TYPES = frozenset(
    {
        "order.placed", "order.cancelled", "order.refunded", "order.returned",
        "customer.created", "customer.updated", "consent.changed", "customer.erasure_requested",
        "review.submitted", "cart.updated", "cart.checked_out",
        "loyalty.tier_changed", "loyalty.reward_redeemed", "tracking.order_delivered",
    }
)  # fmt: skip
#: The scheduled re-evaluation of every merchant that has profiles (time-dependent segments, lifecycle, RFM).
REEVALUATE_EVERY = timedelta(hours=1)
CROSS_SELL_AFTER = timedelta(days=14)


class ProfileConsumer:
    def __init__(
        self,
        metrics: SegmentsMetrics,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        reevaluate_every: timedelta = REEVALUATE_EVERY,
        cross_sell_after: timedelta = CROSS_SELL_AFTER,
    ) -> None:
        self.metrics = metrics
        self.clock = clock
        self.reevaluate_every = reevaluate_every
        self.cross_sell_after = cross_sell_after
        self.segments = store.SegmentCache()

    async def handle(self, conn: asyncpg.Connection, events: list[Envelope]) -> list[Envelope]:
        now = self.clock()
        new_orders = await store.record_orders(conn, events)
        by_customer: dict[store.Key, list[Envelope]] = {}
        for event in events:
            by_customer.setdefault((event.merchant_id, event.data["customer_id"]), []).append(event)
        keys = sorted(by_customer)
        stored = await store.load_profiles(conn, keys)
        # A customer's next orders fold into the stored summary; a cancellation, refund or late older order needs
        # their whole order history (read for those customers only).
        summaries = {}
        for key in keys:
            if any(e.type in HISTORY_NEEDED for e in by_customer[key]):
                continue
            if key in new_orders and (folded := add_orders(stored[key].profile.orders, new_orders[key])) is not None:
                summaries[key] = folded
        with_order_change = [
            k for k in keys if k not in summaries and any(e.type in ORDER_FIGURES for e in by_customer[k])
        ]
        orders = await store.load_orders(conn, with_order_change) if with_order_change else {}
        summaries.update((k, summarise_orders(rows)) for k, rows in orders.items())
        merchants = sorted({k[0] for k in keys})
        segments = await self.segments.live(conn, merchants)
        cuts = await store.rfm_cuts(conn, merchants)
        emitted: list[Envelope] = []
        for key in keys:
            current = stored[key]
            before, memberships = current.profile, current.memberships
            profile = before
            for event in by_customer[key]:
                profile = apply_event(profile, event)
            if key in summaries:
                profile = with_orders(profile, summaries[key])
            last = by_customer[key][-1]
            outcome = reassess(
                key[0], profile, memberships, segments.get(key[0], []), cuts.get(key[0]), now,
                cause="event", source_id=last.event_id,
            )  # fmt: skip
            current.profile, current.memberships = outcome.profile, outcome.memberships
            emitted += outcome.events
            if key in summaries and not profile.erased:
                emitted.append(_profile_updated(key, outcome.profile.orders, last))
        await store.save_profiles(conn, stored.values(), now)
        await record_erasures(conn, events)  # customer.erasure_requested folded into the profiles just saved
        await self._schedule(conn, events, merchants, now)
        return emitted

    async def _schedule(self, conn: asyncpg.Connection, events: list[Envelope], merchants: list[str], now: datetime):
        jobs = [
            Job(f"reevaluate:{m}", "reevaluate", m, now + self.reevaluate_every, {"last_day": now.date().isoformat()})
            for m in merchants
        ]
        for e in events:
            if e.type == "tracking.order_delivered":
                delivered = datetime.fromisoformat(e.data["delivered_at"])
                key = f"cross_sell:{e.merchant_id}:{e.data['order_id']}"
                payload = {"customer_id": e.data["customer_id"], "order_id": e.data["order_id"]}
                jobs.append(Job(key, "cross_sell", e.merchant_id, delivered + self.cross_sell_after, payload))
        await schedule_jobs(conn, jobs)  # existing keys stay as they are: one recurring job per merchant


def _profile_updated(key: store.Key, orders, cause: Envelope) -> Envelope:
    return new_envelope(
        "segments.profile_updated",
        key[0],
        {
            "customer_id": key[1],
            "order_count": orders.order_count,
            "revenue_minor": orders.revenue_minor,
            "currency": orders.currency or "EUR",
        },
        occurred_at=cause.occurred_at,
        event_id=derived_event_id(cause.event_id, f"segments.profile_updated:{key[1]}"),
    )


#: Events per lane transaction. Profiles are not latency-critical (a batch of 1,000 takes ~0.2 s), and between two
#: fetches each lane waits for the other lanes' commits and the offset commit: with 1,000 instead of the platform's
#: 500 the worker waited ~10% less of the time (bench-segments, worker CPU share ~80% -> ~85%).
BATCH_MAX_EVENTS = 1_000
#: One lane per partition (the topics have 4): a profile batch waits on PostgreSQL for a good part of its time
#: (locking and rewriting 1,000 profile documents), which more concurrent lanes fill: ~5,100 -> ~5,800 events/s.
BATCH_LANES = 4


def subscriptions(consumer: ProfileConsumer) -> list[Subscription]:
    return [
        Subscription(
            "segments.profiles", TOPICS, consumer.handle, EVENT_TYPES, consumer.metrics.count,
            batch_max_events=BATCH_MAX_EVENTS, batch_lanes=BATCH_LANES,
        )
    ]  # fmt: skip


def job_source(job_key: str, now: datetime) -> uuid.UUID:
    """Events of one scheduled run get ids derived from the run, so a retried run emits the same ids."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"segments:{job_key}@{now.isoformat()}")
