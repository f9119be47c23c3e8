"""One real notifications worker (`retention serve notifications`) rendering and delivering mail to a real SMTP
server (the dev sink, in its own process), against raw aiosmtplib delivery of ready-made messages in the same run.

    make bench-notifications        # or: python -m bench.notifications --mails 5000 --rate 100 --seconds 15

1. Contacts: `customer.created` for the customers (German and English, du and Sie merchants), pre-produced.
2. Raw baseline: the same number of pre-built MIME messages sent by aiosmtplib over as many connections as the
   worker keeps open: what the SMTP server and the loopback allow at all.
3. Throughput: `notification.requested` (points earned, transactional) for every customer, pre-produced; the
   worker starts against the backlog. Mails/s counts SMTP accepts at the sink (each .eml file's name carries
   the time the server took it), from the first to the last.
4. Latency at a fixed load: requests at `rate`/s for `seconds`, each stamped when produced; the latency runs to
   the SMTP accept of its mail (the sink file of its `X-Retention-Notification-Id`).
5. Memory: the worker's peak RSS (VmHWM).

The per-merchant send rate is switched off here (RETENTION_SMTP_MERCHANT_RATE=0): it is a deliberate brake,
not a cost. The last line reads `RESULT notifications mails_per_s=<n> p99_ms=<n> rss_mb=<n>`.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import aiosmtplib

from bench.common import REPO, Worker, bench_stack, percentile, produce
from services.common.envelope import Envelope, new_envelope
from services.notifications.adapters.rendering import Renderer
from services.notifications.adapters.smtp import build_message
from services.notifications.domain.messages import template_context, trigger_notification_id
from services.platform.infra import free_port

MERCHANTS = ("bench-shop-de", "bench-shop-en")
CONNECTIONS = 4


def customers(count: int) -> list[Envelope]:
    return [
        new_envelope(
            "customer.created",
            MERCHANTS[n % 2],
            {
                "customer_id": f"c{n}",
                "email": f"kunde{n}@example.de",
                "first_name": "Anna",
                "last_name": f"Schmidt{n}",
                "salutation": "frau",
                "locale": "de-DE" if n % 2 == 0 else "en-GB",
                "is_guest": False,
            },
            occurred_at=datetime.now(UTC),
        )
        for n in range(count)
    ]


def requests(count: int, customer_count: int, at: datetime | None = None) -> list[Envelope]:
    return [
        new_envelope(
            "notification.requested",
            MERCHANTS[(n % customer_count) % 2],
            {
                "customer_id": f"c{n % customer_count}",
                "message": "points_earned",
                "category": "transactional",
                "trigger_id": f"bench:{uuid.uuid4()}",
                "order_id": f"o{n}",
                "variables": {"points": 40 + n % 60, "balance": 1200 + n, "reason": "purchase"},
            },
            occurred_at=at or datetime.now(UTC),
        )
        for n in range(count)
    ]


def accepted(folder: Path) -> list[tuple[int, Path]]:
    """(accept time in ns, file) of every mail the sink took."""
    return sorted((int(p.name.split("-", 1)[0]), p) for p in folder.glob("*.eml"))


async def wait_for_mails(folder: Path, expected: int, timeout_s: float = 600) -> list[tuple[int, Path]]:
    deadline = time.monotonic() + timeout_s
    while len(found := accepted(folder)) < expected:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(found)} of {expected} mails arrived")
        await asyncio.sleep(0.2)
    return found


async def raw_smtp(port: int, count: int) -> float:
    """Ready-made messages over CONNECTIONS reused connections: mails/s."""
    renderer = Renderer()
    rendered = renderer.render("points_earned", "de", template_context({"points": 46, "balance": 120}, "Anna", "S"))
    messages = [
        build_message(rendered, sender=("S", "shop@example.de"), recipient=("A", f"raw{n}@example.de"),
                      notification_id=str(uuid.uuid4()))
        for n in range(count)
    ]  # fmt: skip
    queue: asyncio.Queue = asyncio.Queue()
    for message in messages:
        queue.put_nowait(message)

    async def connection() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
        await client.connect()
        while not queue.empty():
            mail = queue.get_nowait()
            await client.sendmail(mail.sender, [mail.recipient], mail.data)
        await client.quit()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    return count / (time.perf_counter() - started)


def start_sink(folder: Path, port: int) -> subprocess.Popen:
    """The dev SMTP sink in its own process, so the worker's figures do not include the server's work."""
    command = [sys.executable, "-m", "services.platform.cli", "smtp-sink", "--folder", str(folder), "--port", str(port)]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL)


async def main(mails: int, rate: int, seconds: int) -> None:
    async with bench_stack("notifications") as stack:
        smtp_port, raw_port = free_port(), free_port()
        raw_folder, folder = stack.workdir / "raw-mail", stack.workdir / "mail"
        sinks = [start_sink(folder, smtp_port), start_sink(raw_folder, raw_port)]
        try:
            await asyncio.sleep(1.5)  # the sinks bind their ports
            customer_count = min(mails, 5_000)
            await produce(stack.producer, customers(customer_count))
            backlog = requests(mails, customer_count)
            await produce(stack.producer, backlog)
            print(f"backlog: {mails:,} notification requests for {customer_count:,} customers, 2 merchants")

            raw_rate = await raw_smtp(raw_port, mails)
            print(f"raw baseline, aiosmtplib over {CONNECTIONS} connections, ready-made mail: {raw_rate:,.0f} mails/s")

            env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port), "RETENTION_SMTP_MERCHANT_RATE": "0",
                   "RETENTION_SMTP_CONNECTIONS": str(CONNECTIONS)}  # fmt: skip
            with Worker("notifications", stack.kafka, stack.database_url, stack.workdir, env) as worker:
                await worker.ready()
                found = await wait_for_mails(folder, mails)
                first, last = found[0][0], found[-1][0]
                worker_rate = (len(found) - 1) / ((last - first) / 1e9)
                print(f"notifications worker: {worker_rate:,.0f} mails/s ({worker_rate / raw_rate:.2f} of raw)")

                sent_at: dict[str, float] = {}
                started = time.time()
                per_tick, tick = max(1, rate // 50), 0.02
                while time.time() - started < seconds:
                    batch = requests(per_tick, customer_count)
                    for event in batch:
                        nid = trigger_notification_id(event.merchant_id, event.data["trigger_id"])
                        sent_at[str(nid)] = event.occurred_at.timestamp()
                    await produce(stack.producer, batch)
                    next_tick = started + tick * (1 + int((time.time() - started) / tick))
                    await asyncio.sleep(max(0.0, next_tick - time.time()))
                found = await wait_for_mails(folder, mails + len(sent_at), timeout_s=120)
                latencies = []
                for ns, path in found[mails:]:
                    header = message_from_bytes(path.read_bytes(), policy=policy.default)["X-Retention-Notification-Id"]
                    latencies.append((ns / 1e9 - sent_at[str(header)]) * 1000)
                p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
                print(f"latency at {rate} requests/s for {seconds} s ({len(latencies):,} mails): "
                      f"p50 {p50:.0f} ms, p99 {p99:.0f} ms (trigger produced -> SMTP accepted)")  # fmt: skip
                rss = worker.peak_rss_mb()
                print(f"worker peak RSS: {rss:.0f} MB")
        finally:
            for sink in sinks:
                sink.terminate()
                sink.wait(10)
    print(f"RESULT notifications mails_per_s={worker_rate:.0f} p99_ms={p99:.0f} rss_mb={rss:.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=5_000, help="notification requests in the backlog")
    parser.add_argument("--rate", type=int, default=100, help="requests/s in the latency phase")
    parser.add_argument("--seconds", type=int, default=15, help="length of the latency phase")
    args = parser.parse_args()
    asyncio.run(main(args.mails, args.rate, args.seconds))
