"""One real segments worker (`retention serve segments`) on the embedded broker and PostgreSQL against raw aiokafka
in the same run, the consumer's per-batch cost in a small and a large shop, and a full re-evaluation of a large shop.

    make bench-segments       # or: python -m bench.segments --events 20000 --customers 1000000 --large 100000

Every merchant gets the same 20 segments first (`SEGMENTS`: compare, performed, bought, rfm_group, consent,
and/or/not; 10 of them time-dependent, 3 with actions), inserted as version 1 rows. A shop "in its steady state"
is bulk-loaded with COPY (synthetic order histories through `summarise_orders`, event windows, purchases,
consents, person data; the orders too) and then walked once as the last hourly run, untimed, so memberships,
lifecycle and RFM are what that run left.

1. Raw baselines on the pre-produced backlog (--events over the --backlog-customers of a steady shop, event times
   over the last hour; order.placed mostly, some customer.updated, consent.changed, review.submitted): aiokafka
   consume -> produce -> commit (the ratio's denominator) and consume -> decode -> insert a row per event -> commit.
2. Throughput: one worker starts against the same backlog (its own group); events/s from its inbox
   (`segments.profiles`: first to last batch's transaction start, group join and start-up excluded) and what it
   emitted. The target is 5,000 events/s; `--profile FILE` records the worker with py-spy meanwhile. Then a
   second worker gets a pre-produced history of as many events about new customers (a shop connecting: times over
   200 days, every customer entering segments for the first time). Peak RSS: the higher VmHWM of the two.
3. Incremental cost: the same batch (--batch events over as many existing customers) through
   `ProfileConsumer.handle` + the outbox write, in-process, in a transaction that is rolled back, in a steady
   shop of --small customers and one of --large; the median of --runs alternating runs each. Untouched
   customers should cost nothing: the ratio should be ~1.
4. Full re-evaluation: --customers profiles of one merchant, bulk-loaded; yesterday's run is replayed first
   (untimed; it reports what a first evaluation of that shop emits), then today's first run is timed as
   `SegmentJobs.reevaluate` runs it: RFM refresh, then `walk_merchant` over all 20 segments (`only=None`, daily
   triggers due) in one transaction. Loading is not counted. Peak RSS of this process during the walk.

The last line reads `RESULT segments events_per_s=<n> full_reeval_s=<n> rss_mb=<n> ratio_to_raw=<r>` (rss_mb is
the worker's).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import shutil
import signal
import statistics
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from prometheus_client import CollectorRegistry

from bench.common import (
    CONTRACT,
    Stack,
    Worker,
    bench_stack,
    parent_pid,
    postgres_cpu_seconds,
    produce,
    raw_consume_produce,
    raw_consume_store,
)
from services.common.db import create_pool
from services.common.envelope import Envelope, new_envelope
from services.common.migrations import apply_migrations, migrations_for
from services.common.outbox import write_outbox
from services.segments.adapters import store
from services.segments.bootstrap import SPEC
from services.segments.domain.profiles import OrderRow, Profile, summarise_orders, with_orders
from services.segments.domain.reassess import reassess
from services.segments.entrypoints.consumers import ProfileConsumer
from services.segments.entrypoints.jobs import walk_merchant
from services.segments.metrics import SegmentsMetrics
from tests.segments_service import consent, customer, order, review

SCHEMA = "segments"
INBOX = "segments.profiles"
REPO = Path(__file__).resolve().parents[1]
CATEGORIES = ("coffee", "tea", "equipment", "accessories", "gifts")
CITIES = ("Berlin", "Hamburg", "München", "Köln", "Dortmund", "Leipzig", "Bremen", "Essen")
CHANNELS = ("web_shop", "web_shop", "web_shop", "amazon", "ebay", "social", "point_of_sale")
TIERS = (None, None, "bronze", "silver", "gold")


def _c(prop: str, cmp: str, value: Any) -> dict[str, Any]:
    return {"op": "compare", "property": prop, "cmp": cmp, "value": value}


def _performed(event: str, within: int, at_least: int = 1, at_most: int | None = None) -> dict[str, Any]:
    node = {"op": "performed", "event": event, "at_least": at_least, "within_days": within}
    return node | ({"at_most": at_most} if at_most is not None else {})


def _bought(category: str, within: int | None = None) -> dict[str, Any]:
    return {"op": "bought", "category": category} | ({"within_days": within} if within else {})


def _consent(purpose: str, granted: bool = True) -> dict[str, Any]:
    return {"op": "consent", "purpose": purpose, "granted": granted}


#: (segment id, definition, actions); 10 of the 20 are time-dependent (windows, recency, lifecycle, RFM).
SEGMENTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("vip", {"op": "and", "of": [_c("revenue_minor", ">=", 40_000), _c("order_count", ">=", 4)]},
     {"trigger": "vip_promotion", "award_points": 500}),
    ("recent-buyers", _performed("order.placed", 30), {}),
    ("frequent-90d", _performed("order.placed", 90, at_least=3), {}),
    ("rfm-at-risk", {"op": "rfm_group", "groups": ["at_risk", "cant_lose"]}, {"trigger": "win_back"}),
    ("rfm-best", {"op": "rfm_group", "groups": ["champions", "loyal"]}, {}),
    ("coffee-lovers", _bought("coffee"), {}),
    ("coffee-recent", _bought("coffee", 60), {}),
    ("newsletter", _consent("marketing"), {}),
    ("ads-audience", {"op": "and", "of": [_consent("advertising"), _c("order_count", ">=", 1)]}, {}),
    ("no-marketing", {"op": "not", "of": _consent("marketing")}, {}),
    ("big-cities", _c("city", "in", ["Berlin", "Hamburg", "München", "Köln"]), {}),
    ("lapsing-repeaters", {"op": "and", "of": [_c("order_count", ">=", 2), _c("days_since_last_order", ">", 120)]},
     {"trigger": "campaign"}),
    ("slipping", _c("lifecycle", "in", ["at_risk", "lapsed"]), {}),
    ("one-and-done", {"op": "and", "of": [_c("order_count", "=", 1), _c("days_since_last_order", ">=", 30)]}, {}),
    ("happy-reviewers", {"op": "and", "of": [_c("review_count", ">=", 1), _c("average_rating", ">=", 4.0)]}, {}),
    ("unhappy", {"op": "or", "of": [_c("average_rating", "<", 3.0), _performed("review.submitted", 30, 2)]}, {}),
    ("big-baskets", _c("average_order_value_minor", ">=", 9_000), {}),
    ("discount-hunters", {"op": "and", "of": [_c("discount_code_count", ">=", 2), _performed("order.placed", 180)]},
     {}),
    ("acquired-recently", _c("first_order_at", ">=", (date.today() - timedelta(days=365)).isoformat()), {}),
    ("cross-sell-equipment", {"op": "and", "of": [
        _bought("coffee"), {"op": "not", "of": _bought("equipment")},
        {"op": "or", "of": [_consent("marketing"), _c("tier", "in", ["silver", "gold"])]}]}, {}),
]  # fmt: skip


async def create_segments(conn: asyncpg.Connection, merchant_id: str) -> None:
    rows = [(merchant_id, sid, 1, sid.replace("-", " ").title(), tree, actions) for sid, tree, actions in SEGMENTS]
    await conn.executemany(
        "INSERT INTO segments (merchant_id, segment_id, version, name, definition, actions) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        rows,
    )
    await conn.executemany(
        "INSERT INTO segment_versions (merchant_id, segment_id, version, name, definition, actions) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        rows,
    )


# --- events ---------------------------------------------------------------------------------------------------


def customer_events(
    merchant_id: str, customers: list[str], count: int, start: datetime, end: datetime, seed: int, *, known: bool
) -> list[Envelope]:
    """`count` events over `customers`, times rising from `start` to `end`: 70% order.placed, 10% each
    customer.created (customer.updated if `known` or seen before), consent.changed and review.submitted."""
    rng = random.Random(seed)
    events: list[Envelope] = []
    seen = set(customers) if known else set()
    step = (end - start) / max(1, count)
    for n in range(count):
        who, at = customers[n % len(customers)], start + step * n
        roll = rng.random()
        if roll < 0.7:
            category = rng.choice(CATEGORIES)
            codes = ("WELCOME10",) if rng.random() < 0.1 else ()
            kind_data = order(
                f"o-{seed}-{n}", who, at, rng.randint(1_500, 15_000), category=category,
                product=f"p-{category}-{rng.randrange(20)}", channel=rng.choice(CHANNELS), codes=codes,
            )  # fmt: skip
        elif roll < 0.8:
            kind = "customer.updated" if who in seen else "customer.created"
            seen.add(who)
            kind_data = customer(who, email=f"{who}@example.de", city=rng.choice(CITIES), kind=kind)
        elif roll < 0.9:
            kind_data = consent(who, rng.random() < 0.7, channel=rng.choice(("email", "advertising")))
        else:
            kind_data = review(who, rng.choice((1, 3, 4, 5, 5)), review_id=f"rv-{seed}-{n}")
        kind, data = kind_data
        events.append(new_envelope(kind, merchant_id, data, occurred_at=at))
    return events


# --- synthetic profiles ---------------------------------------------------------------------------------------


def synthetic_customer(rng: random.Random, customer_id: str, now: datetime) -> tuple[Profile, list[OrderRow]]:
    """One customer as the consumer would have built them: orders (0-12, first up to three years back, rhythm
    from days to months), the event window, a review or two, consents, person data and address."""
    orders: list[OrderRow] = []
    n_orders = min(12, int(rng.expovariate(1 / 2.2))) if rng.random() > 0.12 else 0
    at = now - timedelta(days=rng.uniform(1, 3 * 365))
    gap = rng.choice((14, 30, 60, 120, 240))
    for k in range(n_orders):
        if at > now:
            break
        category = rng.choice(CATEGORIES)
        codes = ("WELCOME10",) if k == 0 and rng.random() < 0.3 else (("SUMMER",) if rng.random() < 0.1 else ())
        orders.append(
            OrderRow(
                f"{customer_id}-o{k}", at, rng.randint(1_500, 15_000), 0, "EUR", rng.choice(CHANNELS),
                rng.random() < 0.03, (f"p-{category}-{rng.randrange(20)}",), (category,), codes,
            )
        )  # fmt: skip
        at += timedelta(days=rng.expovariate(1 / gap))
    reviews = [now - timedelta(days=rng.uniform(0, 400)) for _ in range(rng.choice((0, 0, 0, 1, 1, 2)))]
    events: dict[str, list[float]] = {}
    placed = sorted(o.placed_at.timestamp() for o in orders)
    if placed:
        events["order.placed"] = placed
    if reviews:
        events["review.submitted"] = sorted(r.timestamp() for r in reviews)
    consents = {}
    if rng.random() < 0.6:
        consents["marketing"] = rng.random() < 0.7
    if rng.random() < 0.4:
        consents["advertising"] = rng.random() < 0.6
    city = rng.choice(CITIES)
    profile = Profile(
        customer_id=customer_id,
        person={"email": f"{customer_id}@example.de", "first_name": "Anna", "last_name": "Müller",
                "locale": "de-DE", "is_guest": rng.random() < 0.1},
        city=city,
        postcode=f"{rng.randint(10_000, 99_999)}",
        country="DE",
        birthday=date(rng.randint(1950, 2005), rng.randint(1, 12), rng.randint(1, 28)) if rng.random() < 0.5 else None,
        marketing_source=rng.choice((None, "newsletter", "google", "instagram")),
        review_count=len(reviews),
        rating_sum=sum(rng.choice((2, 4, 5, 5)) for _ in reviews),
        tier=rng.choice(TIERS),
        open_cart=rng.random() < 0.05,
        events=events,
        consents=consents,
    )  # fmt: skip
    return with_orders(profile, summarise_orders(orders)), orders


PROFILE_COLUMNS = (
    "merchant_id", "customer_id", "doc", "memberships", "order_count", "revenue_minor", "currency", "first_order_at",
    "last_order_at", "city", "postcode", "country", "channel", "lifecycle", "rfm_group", "advertising_consent",
    "erased", "updated_at",
)  # fmt: skip
ORDER_COLUMNS = (
    "merchant_id", "order_id", "customer_id", "placed_at", "total_minor", "refunded_minor", "currency", "channel",
    "cancelled", "products", "categories", "discount_codes",
)  # fmt: skip


def customer_id(n: int) -> str:
    return f"c{n:07d}"


def synthetic_rows(
    merchant_id: str, first: int, count: int, now: datetime, seed: int
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    profiles, orders = [], []
    for n in range(first, first + count):
        rng = random.Random(seed * 10_000_000 + n)
        profile, rows = synthetic_customer(rng, customer_id(n), now)
        profiles.append(store._row(store.StoredProfile(merchant_id, profile, {}), now))
        orders += [
            (merchant_id, o.order_id, profile.customer_id, o.placed_at, o.total_minor, o.refunded_minor, o.currency,
             o.channel, o.cancelled, list(o.products), list(o.categories), list(o.discount_codes))
            for o in rows
        ]  # fmt: skip
    return profiles, orders


async def loader(database_url: str) -> asyncpg.Connection:
    """A connection for COPY: COPY is binary, so jsonb gets a binary codec (version byte + the JSON text)."""
    conn = await asyncpg.connect(database_url, server_settings={"search_path": SCHEMA})
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda value: b"\x01" + orjson.dumps(value),
        decoder=lambda data: orjson.loads(data[1:]),
        schema="pg_catalog",
        format="binary",
    )
    return conn


async def load_profiles(
    database_url: str, merchant_id: str, customers: int, now: datetime, *, with_orders_table: bool, seed: int
) -> float:
    """COPY `customers` synthetic profiles (and their orders) in chunks; returns seconds."""
    started, chunk = time.perf_counter(), 20_000
    conn = await loader(database_url)
    try:
        for first in range(0, customers, chunk):
            profiles, orders = synthetic_rows(merchant_id, first, min(chunk, customers - first), now, seed)
            await conn.copy_records_to_table("profiles", records=profiles, columns=PROFILE_COLUMNS)
            if with_orders_table and orders:
                await conn.copy_records_to_table("orders", records=orders, columns=ORDER_COLUMNS)
        await conn.execute("ANALYZE profiles")
        if with_orders_table:
            await conn.execute("ANALYZE orders")
    finally:
        await conn.close()
    return time.perf_counter() - started


# --- 2. the worker --------------------------------------------------------------------------------------------


@dataclass
class WorkerRun:
    rate: float  # events/s
    rss_mb: float  # the worker's peak
    cpu_s: float  # the worker's CPU time until the last event was applied
    postgres_cpu_s: float  # PostgreSQL's meanwhile
    relayed: Counter[str]  # what it emitted, by topic

    def cpu_line(self, events: int) -> str:
        seconds = events / self.rate
        return (
            f"worker CPU {1e6 * self.cpu_s / events:,.0f} µs per event consumed (~{self.cpu_s / seconds:.0%} of a core "
            f"while applying); PostgreSQL {1e6 * self.postgres_cpu_s / events:,.0f} µs per event "
            f"(~{self.postgres_cpu_s / seconds:.0%} of a core)"
        )


async def worker_run(stack: Stack, events: list[Envelope], profile_to: Path | None) -> WorkerRun:
    """A fresh worker on a pre-produced backlog: events/s, its peak RSS and CPU, and what it emitted by topic."""
    with Worker("segments", stack.kafka, stack.database_url, stack.workdir) as worker:
        await worker.ready()
        postmaster = parent_pid(await stack.conn.fetchval("SELECT pg_backend_pid()"))
        cpu_at_start, postgres_at_start = worker.cpu_seconds(), postgres_cpu_seconds(postmaster)
        spy = None
        if profile_to is not None:
            spy = await asyncio.create_subprocess_exec(
                str(REPO / ".venv/bin/py-spy"), "record", "-p", str(worker.process.pid), "-o", str(profile_to),
                "--format", "raw", "--rate", "500", "--nonblocking",
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        try:
            rate = await applied_rate(stack.conn, [e.event_id for e in events])
            cpu_s = worker.cpu_seconds() - cpu_at_start
            postgres_cpu_s = postgres_cpu_seconds(postmaster) - postgres_at_start
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes what it has recorded
                await spy.wait()
        for _ in range(300):  # the relay publishes what the last batches staged (a minute at most)
            if not await stack.conn.fetchval(f"SELECT count(*) FROM {SCHEMA}.outbox"):
                break
            await asyncio.sleep(0.2)
        async with httpx.AsyncClient(timeout=5) as http:
            metrics = (await http.get(f"http://127.0.0.1:{worker.port}/metrics")).text
        relayed: Counter[str] = Counter()
        for line in metrics.splitlines():
            if line.startswith("retention_outbox_relayed_total{"):
                labels, value = line[len("retention_outbox_relayed_total{") :].split("} ")
                relayed[dict(kv.split("=") for kv in labels.split(","))["topic"].strip('"')] += int(float(value))
        return WorkerRun(rate, worker.peak_rss_mb(), cpu_s, postgres_cpu_s, relayed)


async def applied_rate(conn: asyncpg.Connection, ids: list[uuid.UUID], timeout_s: float = 600) -> float:
    """`bench.common.throughput` for these events only: events in all batches but the last over the time from the
    first batch's transaction start to the last one's."""
    deadline = time.monotonic() + timeout_s
    query = f"SELECT count(*) FROM {SCHEMA}.processed_events WHERE consumer = $1 AND event_id = ANY($2::uuid[])"
    while (done := await conn.fetchval(query, INBOX, ids)) < len(ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the worker applied {done} of {len(ids)} events")
        await asyncio.sleep(0.1)
    first, last, in_last = await conn.fetchrow(
        f"""
        WITH applied AS (SELECT processed_at FROM {SCHEMA}.processed_events
                         WHERE consumer = $1 AND event_id = ANY($2::uuid[]))
        SELECT min(processed_at), max(processed_at),
               (SELECT count(*) FROM applied WHERE processed_at = (SELECT max(processed_at) FROM applied))
        FROM applied
        """,
        INBOX,
        ids,
    )
    return (len(ids) - in_last) / (last - first).total_seconds()


async def prepare_shop(
    pool: asyncpg.Pool, database_url: str, merchant_id: str, customers: int, last_run: datetime, seed: int
) -> str:
    """Profiles and their orders bulk-loaded as of `last_run`, the 20 segments, and memberships, lifecycle and RFM as
    the scheduled run at `last_run` left them: a shop in its steady state."""
    started = time.perf_counter()
    await load_profiles(database_url, merchant_id, customers, last_run, with_orders_table=True, seed=seed)
    async with pool.acquire() as conn:
        await create_segments(conn, merchant_id)
        segments = (await store.SegmentCache().live(conn, [merchant_id]))[merchant_id]
        async with conn.transaction():
            await replay_run(conn, merchant_id, segments, last_run)
        await conn.execute("VACUUM ANALYZE profiles")
        orders = await conn.fetchval("SELECT count(*) FROM orders WHERE merchant_id = $1", merchant_id)
    seconds = time.perf_counter() - started
    return f"{merchant_id}: {customers:,} profiles and {orders:,} orders loaded and evaluated in {seconds:.0f} s"


def emitted_line(relayed: Counter[str], consumed: int) -> str:
    emitted = sum(relayed.values())
    topics = ", ".join(f"{t} {n:,}" for t, n in relayed.most_common())
    return f"emitted {emitted:,} events ({emitted / consumed:.2f} per event consumed; {topics})"


# --- 3. incremental cost --------------------------------------------------------------------------------------


async def batch_seconds(pool: asyncpg.Pool, consumer: ProfileConsumer, events: list[Envelope]) -> float:
    """One batch through the handler and the outbox write, as `BatchConsumer` applies it; rolled back."""
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            started = time.perf_counter()
            emitted = await consumer.handle(conn, events)
            await write_outbox(conn, CONTRACT, emitted)
            return time.perf_counter() - started
        finally:
            await tx.rollback()


async def incremental(
    pool: asyncpg.Pool, database_url: str, small: int, large: int, batch: int, runs: int, now: datetime
) -> float:
    merchants = {"bench-small": small, "bench-large": large}
    for merchant, customers in merchants.items():
        print("  " + await prepare_shop(pool, database_url, merchant, customers, now - timedelta(hours=1), seed=2))
    touched = [customer_id(n) for n in range(batch)]
    events = {
        m: customer_events(m, touched, batch, now - timedelta(minutes=10), now, seed=3, known=True) for m in merchants
    }  # the same batch (by content) for both shops
    consumer = ProfileConsumer(SegmentsMetrics.create(CollectorRegistry()), clock=lambda: now)
    timings: dict[str, list[float]] = {m: [] for m in merchants}
    for merchant in merchants:  # warm-up: parse the segments, warm the caches
        await batch_seconds(pool, consumer, events[merchant])
    await pool.execute("CHECKPOINT")  # not in the middle of the timed runs
    for _ in range(runs):
        for merchant in merchants:
            timings[merchant].append(await batch_seconds(pool, consumer, events[merchant]))
    medians = {m: statistics.median(t) for m, t in timings.items()}
    for merchant, customers in merchants.items():
        ms = medians[merchant] * 1000
        print(
            f"  {batch} events over {batch} customers, shop of {customers:,}: median {ms:.0f} ms "
            f"({batch / medians[merchant]:,.0f} events/s in the handler; min {min(timings[merchant]) * 1000:.0f}, "
            f"max {max(timings[merchant]) * 1000:.0f} ms over {runs} runs)"
        )
    return medians["bench-large"] / medians["bench-small"]


# --- 4. full re-evaluation ------------------------------------------------------------------------------------


async def replay_run(conn: asyncpg.Connection, merchant_id: str, segments, then: datetime) -> Counter[str]:
    """An earlier run (RFM refresh and a walk like `walk_merchant`'s, without keeping the events): memberships,
    lifecycle and RFM as of `then`. Returns what it would have emitted, by type."""
    cuts = await store.refresh_rfm(conn, merchant_id, then)
    emitted: Counter[str] = Counter()
    after = ""
    while rows := await store.profile_page(conn, merchant_id, after, 2_000):
        changed = []
        for stored, revision in rows:
            outcome = reassess(
                merchant_id, stored.profile, stored.memberships, segments, cuts, then,
                cause="schedule", source_id=uuid.uuid4(),
            )  # fmt: skip
            emitted.update(e.type for e in outcome.events)
            changed.append((store.StoredProfile(merchant_id, outcome.profile, outcome.memberships), revision))
        await store.save_if_unchanged(conn, changed, then)
        after = rows[-1][0].profile.customer_id
    return emitted


def peak_rss_mb() -> float:
    """This process's peak RSS since the last `reset_peak_rss` (VmHWM), else since it started (getrusage)."""
    try:
        status = Path("/proc/self/status").read_text()
        return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


async def full_reevaluation(pool: asyncpg.Pool, database_url: str, customers: int, now: datetime) -> float:
    merchant = "bench-full"
    then = now - timedelta(days=1)
    seconds = await load_profiles(database_url, merchant, customers, then, with_orders_table=False, seed=4)
    async with pool.acquire() as conn:
        await create_segments(conn, merchant)
        segments = (await store.SegmentCache().live(conn, [merchant]))[merchant]
        size = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('profiles'))")
        print(f"  {customers:,} profiles loaded in {seconds:.0f} s (profiles table now {size})")
        started = time.perf_counter()
        async with conn.transaction():
            first = await replay_run(conn, merchant, segments, then)
        entered = first["segment.entered"]
        print(
            f"  yesterday's run replayed (untimed walk from no memberships): {time.perf_counter() - started:.0f} s, "
            f"{entered:,} memberships entered, {sum(first.values()):,} events a first evaluation emits"
        )
        await conn.execute("VACUUM ANALYZE profiles")

        reset = reset_peak_rss()
        before_rss = peak_rss_mb()
        started = time.perf_counter()
        async with conn.transaction():
            cuts = await store.refresh_rfm(conn, merchant, now)
            rfm_s = time.perf_counter() - started
            events, seen = await walk_merchant(
                conn, merchant, segments, cuts, now, cause="schedule", job_key=f"reevaluate:{merchant}",
                only=None, daily_for=now.date(),
            )  # fmt: skip
            walk_s = time.perf_counter() - started - rfm_s
        total_s = time.perf_counter() - started
        rss = peak_rss_mb()
        written = await conn.fetchval(
            "SELECT count(*) FROM profiles WHERE merchant_id = $1 AND updated_at = $2", merchant, now
        )
        members = await conn.fetchval(
            "SELECT sum((SELECT count(*) FROM jsonb_object_keys(memberships))) FROM profiles WHERE merchant_id = $1",
            merchant,
        )
    kinds = Counter(e.type for e in events)
    print(
        f"  today's run: RFM refresh {rfm_s:.1f} s + walk_merchant over {seen:,} customers x {len(segments)} "
        f"segments {walk_s:.1f} s ({seen / walk_s:,.0f} customers/s), commit included: {total_s:.1f} s"
    )
    print(
        f"  {written:,} profiles written, {kinds['segment.entered']:,} memberships entered and "
        f"{kinds['segment.exited']:,} left ({members:,} memberships now), {len(events):,} events returned "
        f"({', '.join(f'{k} {v:,}' for k, v in kinds.most_common())})"
    )
    since = "the walk" if reset else "start (VmHWM could not be reset)"
    print(f"  this process's peak RSS during {since}: {rss:.0f} MB (before: {before_rss:.0f} MB)")
    return walk_s


async def per_topic(by_topic: Counter[str], drain) -> float:
    """The shared raw drains read one topic each: the backlog's topics one after the other, events over the sum
    of their times (each from its first batch, as in the other benches)."""
    seconds = 0.0
    for topic, count in sorted(by_topic.items()):
        seconds += count / await drain(count, topic)
    return sum(by_topic.values()) / seconds


# --- main -----------------------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> None:
    now = datetime.now(UTC)
    async with bench_stack("segments") as stack:
        workdir = stack.workdir
        pool = await create_pool(stack.database_url, SCHEMA)
        try:
            await apply_migrations(pool, SCHEMA, migrations_for(SPEC.migrations))
            print(f"segments per merchant: {len(SEGMENTS)} (time-dependent: {_time_dependent()})")
            print("  " + await prepare_shop(pool, stack.database_url, "bench-backlog", args.backlog_customers,
                                            now - timedelta(hours=1), seed=1))  # fmt: skip
            people = [customer_id(n) for n in range(args.backlog_customers)]
            backlog = customer_events(
                "bench-backlog", people, args.events, now - timedelta(hours=1), now, seed=1, known=True
            )
            await produce(stack.producer, backlog)
            print(f"backlog: {len(backlog):,} events over these customers ({mix(backlog)})")

            by_topic = Counter(CONTRACT.topic_for(e.type).name for e in backlog)
            raw_rate = await per_topic(by_topic, lambda n, t: raw_consume_produce(stack.kafka, stack.producer, n, t))
            print(f"raw baseline, aiokafka consume -> produce -> commit: {raw_rate:,.0f} events/s")
            store_rate = await per_topic(
                by_topic, lambda n, t: raw_consume_store(stack.kafka, stack.database_url, n, t)
            )
            print(f"raw consume -> decode -> insert one row per event -> commit: {store_rate:,.0f} events/s")

            backlog_run = await worker_run(stack, backlog, args.profile)
            rate = backlog_run.rate
            verdict = "meets" if rate >= 5_000 else "BELOW"
            print(f"segments worker: {rate:,.0f} events/s ({rate / raw_rate:.2f} of raw; {verdict} the 5,000 target)")
            print(f"  {emitted_line(backlog_run.relayed, len(backlog))}")
            print(f"  {backlog_run.cpu_line(len(backlog))}")
            if args.profile:
                print(f"  py-spy profile of the worker (raw collapsed stacks): {args.profile}")

            async with pool.acquire() as conn:
                await create_segments(conn, "bench-new")
            fresh = customer_events(
                "bench-new", people, args.events, now - timedelta(days=200), now, seed=5, known=False
            )
            await produce(stack.producer, fresh)
            fresh_run = await worker_run(stack, fresh, None)
            print(
                f"a shop's history arriving (the same number of events over {args.backlog_customers:,} new customers, "
                f"event times over 200 days; {mix(fresh)}): {fresh_run.rate:,.0f} events/s"
            )
            print(f"  {emitted_line(fresh_run.relayed, len(fresh))}")
            print(f"  {fresh_run.cpu_line(len(fresh))}")
            async with pool.acquire() as conn:
                for merchant in ("bench-backlog", "bench-new"):
                    profiles, members = await conn.fetchrow(
                        "SELECT count(*), sum((SELECT count(*) FROM jsonb_object_keys(memberships))) FROM profiles "
                        "WHERE merchant_id = $1",
                        merchant,
                    )
                    assert profiles == args.backlog_customers, f"{merchant}: {profiles} profiles"
                    print(f"  {merchant}: {profiles:,} profiles with {members:,} memberships")
            rss = max(backlog_run.rss_mb, fresh_run.rss_mb)
            print(f"worker peak RSS: {rss:.0f} MB")

            print("incremental cost, the same batch in a small and a large shop (handler + outbox, rolled back):")
            ratio = await incremental(pool, stack.database_url, args.small, args.large, args.batch, args.runs, now)
            print(f"  large / small: {ratio:.2f} (1 = independent of untouched customers)")

            print(f"full re-evaluation of {args.customers:,} customers:")
            full_s = await full_reevaluation(pool, stack.database_url, args.customers, now)
        finally:
            await pool.close()
    shutil.rmtree(workdir / "pg", ignore_errors=True)  # ~4 GB after a default run; the logs stay
    print(
        f"RESULT segments events_per_s={rate:.0f} full_reeval_s={full_s:.1f} rss_mb={rss:.0f} "
        f"ratio_to_raw={rate / raw_rate:.2f}"
    )


def mix(events: list[Envelope]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in Counter(e.type for e in events).most_common())


def _time_dependent() -> int:
    from services.segments.domain.membership import Segment

    return sum(Segment.from_stored(sid, 1, sid, d, a).time_dependent for sid, d, a in SEGMENTS)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events in the backlog")
    parser.add_argument("--backlog-customers", type=int, default=5_000, help="customers the backlog is about")
    parser.add_argument("--batch", type=int, default=500, help="events (and customers) in the incremental batch")
    parser.add_argument("--small", type=int, default=1_000, help="profiles of the small shop")
    parser.add_argument("--large", type=int, default=100_000, help="profiles of the large shop")
    parser.add_argument("--runs", type=int, default=15, help="timed runs per shop of the incremental batch")
    parser.add_argument("--customers", type=int, default=1_000_000, help="profiles in the full re-evaluation")
    parser.add_argument("--profile", type=Path, help="record the worker with py-spy during the throughput phase")
    asyncio.run(main(parser.parse_args()))
