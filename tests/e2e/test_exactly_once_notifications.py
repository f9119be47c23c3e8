"""Notifications worker processes, a real SMTP server and the real broker and PostgreSQL: duplicate triggers, a
SIGKILL while mails are going out, and an SMTP outage; no mail arrives twice, and every mail arrives except
those the killed worker had on the wire (at most one batch, marked failed and announced, never resent).

The file name sorts before `test_loyalty_scale.py` on purpose: that test leaves thousands of loyalty
notification requests (for merchants without contacts) on the shared session topics, which a notifications
worker started later reads first. The result is the same either way; run after it, this test takes ~100 s
instead of ~25 s."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiosmtpd.controller import Controller

from services.common.contract import load_contract
from services.common.envelope import Envelope, new_envelope
from services.notifications.domain.messages import trigger_notification_id
from services.platform.infra import free_port
from services.platform.smtp_sink import MaildirHandler, start_sink
from tests.harness import Infra
from tests.support import eventually
from tests.workers import ServiceProcess

pytestmark = pytest.mark.e2e

CONTRACT = load_contract()
CUSTOMERS, PER_CUSTOMER = 40, 3


def contacts(merchant_id: str) -> list[Envelope]:
    now = datetime.now(UTC)
    return [
        new_envelope(
            "customer.created",
            merchant_id,
            {"customer_id": f"c{n}", "email": f"c{n}@example.de", "first_name": "Anna", "last_name": "Schmidt",
             "salutation": "frau", "locale": "de", "is_guest": False},
            occurred_at=now,
        )
        for n in range(CUSTOMERS)
    ]  # fmt: skip


def requests(merchant_id: str, numbers: range) -> list[Envelope]:
    """Every request twice, under two event ids: the shop (or a service) retried."""
    now, events = datetime.now(UTC), []
    for n in numbers:
        facts = {"points": 10 + n, "balance": 100 + n, "reason": "purchase"}
        data = {"customer_id": f"c{n % CUSTOMERS}", "message": "points_earned", "category": "transactional",
                "trigger_id": f"once:{n}", "variables": facts}  # fmt: skip
        first = new_envelope("notification.requested", merchant_id, data, occurred_at=now)
        events += [first, first.model_copy(update={"event_id": uuid.uuid4()})]
    return events


async def publish(infra: Infra, events: list[Envelope]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka, acks="all", linger_ms=5)
    await producer.start()
    try:
        for event in events:
            await producer.send(
                CONTRACT.topic_for(event.type).name, event.to_bytes(), key=CONTRACT.partition_key(event)
            )
        await producer.flush()
    finally:
        await producer.stop()


class SlowServer(MaildirHandler):
    """The real sink, 50 ms per message: mails are on the wire when the worker is killed."""

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.05)
        return await super().handle_DATA(server, session, envelope)


def delivered(folder: Path, wanted: set[str]) -> Counter[str]:
    """How often each of our notifications reached the SMTP server (other tests' mail is ignored)."""
    seen: Counter[str] = Counter()
    for path in folder.glob("*.eml"):
        nid = message_from_bytes(path.read_bytes(), policy=policy.default)["X-Retention-Notification-Id"]
        if nid in wanted:
            seen[str(nid)] += 1
    return seen


async def test_each_mail_at_most_once_through_duplicates_a_sigkill_and_an_smtp_outage(
    infra: Infra, topics: None, tmp_path: Path, merchant_id: str
) -> None:
    port, folder = free_port(), tmp_path / "mail"
    wanted = {str(trigger_notification_id(merchant_id, f"once:{n}")) for n in range(CUSTOMERS * PER_CUSTOMER)}
    env = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "RETENTION_SMTP_CONNECTIONS": "2",
        "RETENTION_SMTP_MERCHANT_RATE": "0",
        "RETENTION_SMTP_RETRY_WAIT_S": "1",
        "RETENTION_SMTP_INTERRUPTED_AFTER_S": "4",
        "RETENTION_KAFKA_SESSION_TIMEOUT_S": "6",  # the killed worker leaves its group sooner
    }
    sink = Controller(SlowServer(folder), hostname="127.0.0.1", port=port)
    sink.start()
    half = CUSTOMERS * PER_CUSTOMER // 2
    workers: list[ServiceProcess] = []
    conn = await asyncpg.connect(infra.database_url)
    try:
        await publish(infra, contacts(merchant_id))
        await publish(infra, requests(merchant_id, range(half)))
        first = ServiceProcess(infra, tmp_path, "n1", service="notifications", env=env)
        workers.append(first)
        await first.ready()
        await eventually(lambda: sum(delivered(folder, wanted).values()) >= 20 or None, timeout_s=90)
        first.kill()  # SIGKILL with a batch on the wire
        sink.stop()  # and the SMTP server goes away, while more requests come in
        await publish(infra, requests(merchant_id, range(half, 2 * half)))

        second = ServiceProcess(infra, tmp_path, "n2", service="notifications", env=env)
        workers.append(second)
        await second.ready()

        async def retried_while_down() -> bool | None:
            reasons = await conn.fetch(
                "SELECT status_reason FROM notifications.notifications WHERE merchant_id = $1 AND status = 'pending' "
                "AND status_reason LIKE 'SMTPConnect%'",
                merchant_id,
            )
            return True if reasons else None

        await eventually(retried_while_down, timeout_s=60)  # the outage was noticed and the mail kept
        sink = start_sink(folder, port=port)  # back

        async def settled() -> list[asyncpg.Record] | None:
            rows = await conn.fetch(
                "SELECT notification_id, status, status_reason FROM notifications.notifications WHERE merchant_id = $1",
                merchant_id,
            )
            done = len(rows) == len(wanted) and all(r["status"] in ("sent", "failed") for r in rows)
            return rows if done else None

        rows = await eventually(settled, timeout_s=120)
        seen = delivered(folder, wanted)
        assert max(seen.values()) == 1, [nid for nid, n in seen.items() if n > 1]  # nothing twice
        sent = {str(r["notification_id"]) for r in rows if r["status"] == "sent"}
        failed = [r for r in rows if r["status"] == "failed"]
        assert sent <= set(seen) and len(sent) >= len(wanted) - 8, (len(sent), len(seen))
        assert all(r["status_reason"].startswith("interrupted during SMTP send") for r in failed)
        assert len(failed) <= 8  # at most the killed worker's claimed batch (4 per connection)
        assert len(seen) - len(sent) <= len(failed)  # what the killed worker got out was counted as failed
    finally:
        for worker in workers:
            worker.stop()
        sink.stop()
        await conn.close()
