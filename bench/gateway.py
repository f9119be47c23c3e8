"""One real gateway process (`retention serve gateway`) taking batches on `POST /v1/events`, against a raw aiokafka
producer publishing the same serialized envelopes to the same topics, in the same run.

    make bench-gateway    # or: python -m bench.gateway --seconds 15 --concurrency 8 --batch 100 --rate 5000

1. Events: order.placed and customer.created (3:1), realistic bodies from the contract's examples with varied
   customers, orders and lines; every event sent has a fresh event_id, so none is a duplicate.
2. Raw baseline: a producer built like the gateway's (`new_producer`: acks=all, linger 5 ms), `--concurrency`
   tasks each sending `--batch` ready-made envelopes to their topics with their partition keys and awaiting the
   acknowledgements, again and again for `--seconds`: what the broker and aiokafka allow at all.
3. Gateway: a merchant and an API key (events:write) in the gateway's schema; the per-key rate limit is raised
   (RETENTION_GATEWAY_RATE_PER_KEY / _BURST_PER_KEY) so it does not brake the benchmark. A load generator in its
   own process (so it shares no GIL with this one or the gateway) posts batches of `--batch` events over at most
   `--concurrency` keep-alive connections:
   a. throughput: every connection busy, call after call, for `--seconds` after `--warmup` seconds not counted;
      events/s is the events accepted in the calls that ended inside the window over its length. Its latency is
      mostly queueing (`--concurrency` calls share one process), so it is printed but is not the p99 below;
   b. latency at a fixed load: a call due every `--batch`/`--rate` seconds whether earlier ones ended or not,
      for `--seconds`; each call's latency (p50, p99) runs from when it was due to its full answer.
4. CPU: everything runs on the same cores, so the share of a core each process took in each window is printed
   (gateway, load generator, broker, PostgreSQL, the rest of the machine) to read the figures honestly; a window
   in which processes outside the run took over a quarter of a core is flagged.
5. Memory: the gateway's peak RSS (VmHWM). Then every accepted event must be in the gateway's dedupe table and on
   the topics exactly once.

With `--profile FILE` py-spy samples the gateway in window a (collapsed stacks, `--format raw`); py-spy pauses the
process to sample, so the figures of such a run are lower and only the profile is meant.

The last line reads `RESULT gateway events_per_s=<n> p99_ms=<n> rss_mb=<n> ratio_to_raw=<r>`: events/s of window a,
the p99 of window b (of window a with `--rate 0`), and window a's events/s over the raw baseline's.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from bench.common import (
    CLOCK_TICKS,
    CONTRACT,
    Worker,
    bench_stack,
    cpu_seconds,
    parent_pid,
    percentile,
    pids_where,
    postgres_cpu_seconds,
)
from services.common.db import create_pool
from services.common.kafka import new_producer
from services.common.settings import Settings
from services.gateway.adapters.merchants import create_key, create_merchant
from tests.support import example_event

MERCHANT, RAW_MERCHANT = "bench-gateway", "bench-raw"
TEMPLATES = 1_000
PLACEHOLDER = "00000000-0000-4000-8000-000000000000"
TOPICS = sorted({CONTRACT.topic_for(t).name for t in ("order.placed", "customer.created")})
#: Percent of a core taken by processes outside the run above which a window's figures are flagged.
OTHER_WARNING = 25


def event_bodies(count: int) -> list[dict]:
    """`count` distinct events as a merchant sends them (no merchant_id), the event_id a placeholder."""
    placed = [example_event("order.placed"), example_event("order.placed")]
    created = [example_event("customer.created"), example_event("customer.created")]
    bodies = []
    for n in range(count):
        customer = f"c-{n * 7919 % 20_000}"
        if n % 4 == 3:
            event = created[n % 2]
            data = {**event["data"], "customer_id": customer, "email": f"kunde{n}@example.de"}
        else:
            event = placed[n % 2]
            lines = [
                {**line, "quantity": 1 + (n + i) % 3, "unit_price_minor": 990 + (n * 37 + i * 101) % 9000}
                for i, line in enumerate(event["data"]["lines"][: 1 + n % 3])
            ]
            for line in lines:
                line["total_minor"] = line["quantity"] * line["unit_price_minor"]
            subtotal = sum(line["total_minor"] for line in lines)
            data = {
                **event["data"],
                "order_id": f"o-{n}",
                "order_number": f"{100_000 + n}",
                "customer_id": customer,
                "lines": lines,
                "subtotal_minor": subtotal,
                "discount_minor": 0,
                "total_minor": subtotal + event["data"]["shipping_minor"],
            }
            data.pop("email", None)
        bodies.append({**event, "event_id": PLACEHOLDER, "data": data})
    for body in bodies:  # a benchmark of rejections would measure nothing: every template must pass the contract
        CONTRACT.validate({**body, "event_id": str(uuid.uuid4()), "merchant_id": MERCHANT})
    return bodies


class Batches:
    """Request bodies of `batch` events with fresh ids, spliced into pre-serialized templates (cheap to make)."""

    def __init__(self, bodies: list[dict], batch: int) -> None:
        self.parts = [orjson.dumps(b).split(PLACEHOLDER.encode()) for b in bodies]
        self.batch, self.next = batch, 0

    def __call__(self) -> bytes:
        chosen = [self.parts[(self.next + i) % len(self.parts)] for i in range(self.batch)]
        self.next = (self.next + self.batch) % len(self.parts)
        events = b",".join(p[0] + str(uuid.uuid4()).encode() + p[1] for p in chosen)
        return b'{"events":[' + events + b"]}"


@dataclass
class Window:
    """What the concurrent senders of one phase did inside the measured window."""

    seconds: float
    events: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    total: int = 0  # events done in all calls, warm-up and the tail after the window included
    cpu_share: float | None = None  # of one core, by the process that sent the calls

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 99)

    def record(self, outcome: int | str, latency_s: float) -> None:
        if isinstance(outcome, int):
            self.events += outcome
            self.latencies_ms.append(latency_s * 1000)
        else:
            self.failures[outcome] = self.failures.get(outcome, 0) + 1

    def shape(self) -> str:
        p50, calls = percentile(self.latencies_ms, 50), len(self.latencies_ms)
        failed = f"; failed calls: {self.failures}" if self.failures else ""
        return f"{self.rate:,.0f} events/s, per call p50 {p50:.1f} ms, p99 {self.p99:.1f} ms ({calls:,} calls){failed}"


async def saturated(send, concurrency: int, warmup: float, seconds: float, on_window=None) -> Window:
    """`concurrency` loops calling `send()` (→ events done, or a failure label) back to back (a closed loop: the
    latency is mostly queueing behind the other calls); count the calls that end inside [warm-up end, + seconds].
    `on_window("start"|"end")` marks the window's edges."""
    window = Window(seconds)
    start = time.perf_counter() + warmup
    end = start + seconds
    edges = {"start": start, "end": end}

    async def loop() -> None:
        while time.perf_counter() < end:
            began = time.perf_counter()
            outcome = await send()
            done = time.perf_counter()
            window.total += outcome if isinstance(outcome, int) else 0
            if start <= done <= end:
                window.record(outcome, done - began)

    async def mark() -> None:
        for edge in ("start", "end"):
            await asyncio.sleep(max(0.0, edges[edge] - time.perf_counter()))
            if on_window is not None:
                on_window(edge)

    await asyncio.gather(mark(), *(loop() for _ in range(concurrency)))
    return window


async def paced(send, calls_per_s: float, seconds: float, on_window=None) -> Window:
    """Start a call every 1/calls_per_s seconds whether the earlier ones ended or not (an open loop, as shops
    send), for `seconds`; each call's latency runs from when it was due, so waiting for a connection counts."""
    window = Window(seconds)
    start, calls = time.perf_counter(), []

    async def call(due: float) -> None:
        outcome = await send()
        window.total += outcome if isinstance(outcome, int) else 0
        window.record(outcome, time.perf_counter() - due)

    if on_window is not None:
        on_window("start")
    for n in range(int(seconds * calls_per_s)):
        due = start + n / calls_per_s
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        calls.append(asyncio.create_task(call(due)))
    if on_window is not None:
        on_window("end")
    await asyncio.gather(*calls)
    return window


async def raw_baseline(kafka: str, bodies: list[dict], args: argparse.Namespace) -> list[Window]:
    """The gateway's publish step alone: ready-made envelopes, batch by batch, each awaiting its acks=all; the
    same two windows as the gateway's (the paced one shows the broker's own share of the latency)."""
    envelopes = [
        CONTRACT.validate({**body, "event_id": str(uuid.uuid4()), "merchant_id": RAW_MERCHANT})
        for body in bodies * max(1, 10_000 // len(bodies))
    ]
    records = [(CONTRACT.topic_for(e.type).name, e.to_bytes(), CONTRACT.partition_key(e)) for e in envelopes]
    producer = new_producer(Settings(kafka_bootstrap_servers=kafka), client_id="bench-raw")
    await producer.start()
    cursor = 0

    async def send() -> int:
        nonlocal cursor
        chosen = [records[(cursor + i) % len(records)] for i in range(args.batch)]
        cursor = (cursor + args.batch) % len(records)
        futures = [await producer.send(topic, value, key=key) for topic, value, key in chosen]
        await asyncio.gather(*futures)
        return len(chosen)

    edges: list[tuple[float, float]] = []  # (wall, this process's CPU) at the first window's edges

    def mark(_edge: str) -> None:
        edges.append((time.perf_counter(), time.process_time()))

    try:
        windows = [await saturated(send, args.concurrency, args.warmup, args.seconds, mark)]
        (t0, cpu0), (t1, cpu1) = edges
        windows[0].cpu_share = (cpu1 - cpu0) / (t1 - t0)
        if args.rate:
            windows.append(await paced(send, args.rate / args.batch, args.seconds))
        return windows
    finally:
        await producer.stop()


def load_generator(url: str, token: str, bodies: list[dict], args: argparse.Namespace, pipe: Connection) -> None:
    """The load generator's process: it reports the windows' edges as they pass, then each window (as a tuple)."""
    for window in asyncio.run(_generate(url, token, bodies, args, pipe)):
        pipe.send((window.seconds, window.events, window.latencies_ms, window.failures, window.total))


async def _generate(
    url: str, token: str, bodies: list[dict], args: argparse.Namespace, pipe: Connection
) -> list[Window]:
    make_body = Batches(bodies, args.batch)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as http:

        async def send() -> int | str:
            try:
                response = await http.post("/v1/events", content=make_body())
            except httpx.HTTPError as exc:
                return type(exc).__name__
            if response.status_code != 200:
                return f"HTTP {response.status_code}"
            answer = orjson.loads(response.content)
            return answer["accepted"] if answer["accepted"] == args.batch else f"{answer['accepted']} accepted"

        windows = [await saturated(send, args.concurrency, args.warmup, args.seconds, pipe.send)]
        if args.rate:
            windows.append(await paced(send, args.rate / args.batch, args.seconds, pipe.send))
        return windows


def machine_busy_seconds() -> float:
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(v) for v in open("/proc/stat").readline().split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


class CpuMeter:
    """CPU seconds of the processes of the run: gateway, load generator, broker, PostgreSQL (postmaster + children,
    with the children it reaped), and the whole machine."""

    def __init__(self, gateway: int, generator: int, kafka: str, postmaster: int) -> None:
        listener = b"\0--listener-url\0tcp://" + kafka.encode() + b"\0"
        broker = pids_where(lambda proc: listener in (proc / "cmdline").read_bytes())
        self.pids = {"gateway": gateway, "load generator": generator, "broker": broker[0] if broker else None}
        self.postmaster = postmaster
        self.marks: list[tuple[float, dict[str, float]]] = []

    def sample(self) -> dict[str, float]:
        values = {name: cpu_seconds(pid) for name, pid in self.pids.items() if pid is not None}
        values["PostgreSQL"] = postgres_cpu_seconds(self.postmaster)
        values["machine"] = machine_busy_seconds()
        return values

    def mark(self, _edge: str = "") -> None:
        self.marks.append((time.perf_counter(), self.sample()))

    def shares(self, window: int = 0) -> str:
        """The share of a core each took in the `window`-th window (the marks 2*window and 2*window + 1), and a
        warning when processes outside the run took a fair part of the machine."""
        (t0, first), (t1, last) = self.marks[2 * window], self.marks[2 * window + 1]
        share = {name: (last[name] - first[name]) / (t1 - t0) * 100 for name in first}
        other = max(0.0, share["machine"] - sum(v for k, v in share.items() if k != "machine"))
        parts = [f"{name} {value:.0f}%" for name, value in share.items() if name != "machine"]
        parts.append(f"other {other:.0f}%; machine {share['machine']:.0f}% of {os.cpu_count() * 100}%")
        warning = f"\n  (!) other processes took {other:.0f}% of a core: not the figures of a quiet machine"
        return ", ".join(parts) + (warning if other > OTHER_WARNING else "")


async def end_offsets(kafka: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=None)
    await consumer.start()
    try:
        partitions = [TopicPartition(t, p) for t in TOPICS for p in consumer.partitions_for_topic(t) or ()]
        return await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()


async def published_ids(kafka: str, since: dict[TopicPartition, int]) -> tuple[int, int]:
    """Records of the benchmark's merchant on the topics from `since` on: (records, distinct event ids).

    Read to the end rather than compared by end offsets: the embedded broker reports end offsets a little short
    of the records it holds (by ~0.3 % after a run), so `since` is at or before the raw phase's end and the raw
    records after it are told apart by their key (`merchant_id:…`).
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka, group_id=None, enable_auto_commit=False, max_partition_fetch_bytes=4 * 1024 * 1024
    )
    await consumer.start()
    prefix, records, ids = f"{MERCHANT}:".encode(), 0, set()
    try:
        consumer.assign(list(since))
        for partition, offset in since.items():
            consumer.seek(partition, offset)
        while batches := await consumer.getmany(timeout_ms=2_000, max_records=10_000):
            for record in (r for rs in batches.values() for r in rs if r.key.startswith(prefix)):
                records += 1
                ids.add(orjson.loads(record.value)["event_id"])
        return records, len(ids)
    finally:
        await consumer.stop()


async def main(args: argparse.Namespace) -> None:
    bodies = event_bodies(TEMPLATES)
    shape = f"batches of {args.batch}, {args.concurrency} at once, {args.seconds:g} s after {args.warmup:g} s warm-up"
    async with bench_stack("gateway") as stack:
        raw = await raw_baseline(stack.kafka, bodies, args)
        print(f"raw baseline, aiokafka acks=all, {shape}: {raw[0].shape()}")
        print(f"  CPU of the producing process in that window: {raw[0].cpu_share:.0%}")
        if args.rate:
            print(f"raw baseline at {args.rate:,} events/s for {args.seconds:g} s: {raw[1].shape()}")

        limits = {"RETENTION_GATEWAY_RATE_PER_KEY": "100000", "RETENTION_GATEWAY_BURST_PER_KEY": "1000000"}
        with Worker("gateway", stack.kafka, stack.database_url, stack.workdir, limits) as worker:
            await worker.ready()
            pool = await create_pool(stack.database_url, "gateway", max_size=2)
            try:
                await create_merchant(pool, MERCHANT, "Bench GmbH")
                token = await create_key(pool, MERCHANT, scopes=("events:write",), label="bench")
            finally:
                await pool.close()
            since = await end_offsets(stack.kafka)
            postmaster = parent_pid(await stack.conn.fetchval("SELECT pg_backend_pid()"))

            spawn = multiprocessing.get_context("spawn")
            receiver, sender = spawn.Pipe(duplex=False)
            url = f"http://127.0.0.1:{worker.port}"
            generator = spawn.Process(target=load_generator, args=(url, token, bodies, args, sender))
            generator.start()
            sender.close()  # the generator holds the only writer: a crash there ends the reads here
            meter = CpuMeter(worker.process.pid, generator.pid, stack.kafka, postmaster)
            profiler = None
            for _ in range(4 if args.rate else 2):  # the edges of each window
                await asyncio.to_thread(receiver.recv)
                meter.mark()
                if args.profile and profiler is None:
                    profiler = await asyncio.create_subprocess_exec(
                        str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(worker.process.pid),
                        "--duration", str(round(args.seconds)), "--rate", "100", "--format", "raw",
                        "--output", args.profile, stdout=asyncio.subprocess.DEVNULL,
                    )  # fmt: skip
            windows = [Window(*await asyncio.to_thread(receiver.recv)) for _ in range(2 if args.rate else 1)]
            await asyncio.to_thread(generator.join)
            if profiler is not None:
                await profiler.wait()
                print(f"py-spy profile of the gateway in the first window: {args.profile}")

            full = windows[0]
            print(f"gateway, POST /v1/events, {shape}: {full.shape()}")
            print(f"  CPU in that window: {meter.shares(0)}")
            if args.rate:
                print(f"gateway at {args.rate:,} events/s ({args.rate / args.batch:g} calls/s) for {args.seconds:g} s: "
                      f"{windows[1].shape()}")  # fmt: skip
                print(f"  CPU in that window: {meter.shares(1)}")
            rss = worker.peak_rss_mb()
            print(f"gateway peak RSS: {rss:.0f} MB")
            accepted = sum(w.total for w in windows)
            ids = await stack.conn.fetchval(
                "SELECT count(*) FROM gateway.ingested_events WHERE merchant_id = $1", MERCHANT
            )
            records, distinct = await published_ids(stack.kafka, since)
            print(
                f"all calls: {accepted:,} events accepted, {ids:,} event ids recorded, "
                f"{records:,} records ({distinct:,} distinct ids) published by the gateway"
            )
            assert accepted == ids == records == distinct, "every accepted event is recorded and published once"
    p99, ratio = windows[-1].p99, full.rate / raw[0].rate
    print(f"RESULT gateway events_per_s={full.rate:.0f} p99_ms={p99:.0f} rss_mb={rss:.0f} ratio_to_raw={ratio:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15, help="length of each measured window")
    parser.add_argument("--warmup", type=float, default=3, help="seconds before the first window, not counted")
    parser.add_argument("--concurrency", type=int, default=8, help="connections (calls in flight) at most")
    parser.add_argument("--batch", type=int, default=100, help="events per call (the gateway takes up to 500)")
    parser.add_argument("--rate", type=int, default=5_000, help="events/s of the paced window (0: none)")
    parser.add_argument("--profile", help="write py-spy's collapsed stacks of the gateway in the first window here")
    asyncio.run(main(parser.parse_args()))
