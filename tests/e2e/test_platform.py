"""The whole platform as separate processes, started by the same supervisor as `make run`.

Real broker (embedded Tansu), real PostgreSQL (embedded), real SMTP (the sink), real HTTP.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from services.platform.infra import free_port, port_is_open
from services.platform.smtp_sink import read_mails
from tests.support import consume_until, eventually, example_event

REPO = Path(__file__).resolve().parents[2]


def free_port_block(size: int = 5) -> int:
    for _ in range(200):
        base = free_port()
        if base + size < 65000 and not any(port_is_open("127.0.0.1", base + i) for i in range(size)):
            return base
    raise RuntimeError("no block of free ports")


class Platform:
    """`retention up` in a child process, exactly as a developer runs it (minus the simulated shop)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}
        self.log_path = data_dir / "up.log"

    def start(self, timeout_s: float = 240.0) -> None:
        ready_file = self.data_dir / "ready.json"
        ready_file.unlink(missing_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
        argv = [
            sys.executable, "-m", "services.platform.cli", "up", "--data-dir", str(self.data_dir),
            "--base-port", str(free_port_block()), "--kafka-port", str(free_port()),
            "--smtp-port", str(free_port()), "--no-simulate", "--ready-file", str(ready_file), "--log-format", "json",
        ]  # fmt: skip
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while not ready_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"platform did not become ready; log tail:\n{self.log_tail()}")
            time.sleep(0.3)
        self.info = json.loads(ready_file.read_text())

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def log_tail(self, lines: int = 80) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def children(self) -> dict[str, Any]:
        return json.loads(Path(self.info["children_file"]).read_text())

    @property
    def gateway(self) -> str:
        return self.info["urls"]["gateway"]

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.info['api_key']}"}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    running = Platform(tmp_path_factory.mktemp("platform"))
    running.start()
    try:
        yield running
    finally:
        running.stop()


async def post_events(platform: Platform, events: list[dict[str, Any]], key: str | None = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(f"{platform.gateway}/v1/events", json={"events": events}, headers=platform.headers(key))


async def pending_of(platform: Platform, customer_id: str, points: int) -> dict[str, Any] | None:
    """The customer's loyalty once `points` are pending (None until then)."""
    loyalty = await loyalty_of(platform, customer_id)
    return loyalty if loyalty is not None and loyalty["pending"] == points else None


async def loyalty_of(platform: Platform, customer_id: str, key: str | None = None) -> dict[str, Any] | None:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(
            f"{platform.gateway}/v1/customers/{customer_id}/loyalty", headers=platform.headers(key)
        )
    return response.json() if response.status_code == 200 else None


def paid_order(customer_id: str, total_minor: int) -> list[dict[str, Any]]:
    """An order and its payment: purchase points go pending once both are in (DESIGN: points follow the parcel)."""
    order = example_event("order.placed", customer_id=customer_id, order_id=f"o-{customer_id}")
    order["data"].update(total_minor=total_minor, shipping_minor=0, tax_minor=0, subtotal_minor=total_minor,
                         discount_minor=0)  # fmt: skip
    line = order["data"]["lines"][0]
    line.update(quantity=1, unit_price_minor=total_minor, total_minor=total_minor, category="shoes")
    order["data"]["lines"] = [line]
    paid = example_event("order.paid", customer_id=customer_id, order_id=f"o-{customer_id}", amount_minor=total_minor)
    return [now(order), now(paid)]


def now(event: dict[str, Any]) -> dict[str, Any]:
    """Stamp an example with the current time: the points of a months-old payment would be confirmed already."""
    return {**event, "occurred_at": datetime.now(UTC).isoformat()}


def customer_and_order(customer_id: str, email: str, total_minor: int = 4_990) -> list[dict[str, Any]]:
    customer = example_event("customer.created", customer_id=customer_id, email=email, locale="de-DE")
    customer["data"].pop("referrer_customer_id", None)
    return [now(customer), *paid_order(customer_id, total_minor)]


async def test_order_to_points_to_mail_to_balance(platform: Platform) -> None:
    customer_id, email = f"c-{uuid.uuid4().hex[:8]}", f"kunde-{uuid.uuid4().hex[:6]}@example.de"
    response = await post_events(platform, customer_and_order(customer_id, email, total_minor=4_990))
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 3

    loyalty = await eventually(lambda: pending_of(platform, customer_id, 49), timeout_s=60)
    assert loyalty["balance"] == 50  # the sign-up bonus is available now, the purchase points are pending
    assert {h["reason_code"] for h in loyalty["history"]} == {"signup", "purchase"}

    def mail_for_customer() -> list[Any]:
        return [m for m in read_mails(Path(platform.info["mail_dir"])) if email in str(m["To"])]

    def both_mails() -> dict[str, Any] | None:  # the sign-up bonus, and the purchase points held for the parcel
        mails = {str(m["Subject"]): m for m in mail_for_customer()}
        wanted = {"Du hast 50 Punkte gesammelt", "49 Punkte für deine Bestellung vorgemerkt"}
        return mails if wanted <= set(mails) else None

    mails = await eventually(both_mails, timeout_s=60)
    assert "Punktestand: 50 Punkte" in mails["Du hast 50 Punkte gesammelt"].get_body(("plain",)).get_content()


async def test_the_same_event_twice_awards_once(platform: Platform) -> None:
    customer_id = f"c-{uuid.uuid4().hex[:8]}"
    events = customer_and_order(customer_id, f"{customer_id}@example.de", total_minor=2_000)
    first = await post_events(platform, events)
    again = await post_events(platform, events)
    assert [r["status"] for r in again.json()["results"]] == ["duplicate"] * 3, first.text
    await eventually(lambda: pending_of(platform, customer_id, 20), timeout_s=60)
    before = await loyalty_duplicates(platform)
    # Straight to Kafka as well, past the gateway's own dedup: the loyalty inbox must catch it.
    order = {**events[2], "merchant_id": platform.info["merchant_id"]}
    producer = AIOKafkaProducer(bootstrap_servers=platform.info["kafka"], acks="all")
    await producer.start()
    try:
        key = f"{order['merchant_id']}:{customer_id}".encode()
        await producer.send_and_wait("shop.orders", json.dumps(order).encode(), key=key)
    finally:
        await producer.stop()

    async def duplicate_seen() -> bool:
        return await loyalty_duplicates(platform) > before

    await eventually(duplicate_seen, timeout_s=60)
    loyalty = await loyalty_of(platform, customer_id)
    assert loyalty is not None and loyalty["pending"] == 20 and len(loyalty["history"]) == 2  # sign-up + purchase


async def loyalty_duplicates(platform: Platform) -> float:
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"{platform.info['urls']['loyalty']}/metrics")).text
    prefix = 'retention_duplicates_total{service="loyalty",topic="shop.orders"} '
    return sum(float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix))


async def test_malformed_event_gets_422_with_the_field_path(platform: Platform) -> None:
    bad = example_event("order.placed")
    bad["data"]["lines"][0]["quantity"] = 0
    async with httpx.AsyncClient(timeout=10) as http:
        single = await http.post(f"{platform.gateway}/v1/events", json=bad, headers=platform.headers())
        smuggled = await http.post(
            f"{platform.gateway}/v1/events",
            headers=platform.headers(),
            json={**example_event("order.placed"), "merchant_id": "someone-else"},
        )
    assert single.status_code == 422 and single.headers["content-type"] == "application/problem+json"
    assert "data.lines[0].quantity" in [e["path"] for e in single.json()["errors"]]
    assert smuggled.status_code == 422 and smuggled.json()["errors"][0]["path"] == "merchant_id"

    mixed = await post_events(platform, [example_event("order.placed", customer_id=f"c-{uuid.uuid4().hex[:8]}"), bad])
    body = mixed.json()
    assert mixed.status_code == 200 and (body["accepted"], body["rejected"]) == (1, 1)
    assert body["results"][1]["errors"][0]["path"] == "events[1].data.lines[0].quantity"


async def test_bad_keys_are_refused_uniformly(platform: Platform) -> None:
    key = platform.info["api_key"]
    wrong_checksum = key[:-1] + ("A" if key[-1] != "A" else "B")
    async with httpx.AsyncClient(timeout=10) as http:
        responses = [
            await http.get(f"{platform.gateway}/v1/customers/x/loyalty", headers=headers)
            for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Bearer {wrong_checksum}"})
        ]
    assert {r.status_code for r in responses} == {401}
    assert len({r.text for r in responses}) == 1


async def test_malformed_message_straight_to_kafka_is_dead_lettered_and_consumption_goes_on(
    platform: Platform,
) -> None:
    marker = f"{platform.info['merchant_id']}:poison-{uuid.uuid4().hex[:8]}".encode()
    producer = AIOKafkaProducer(bootstrap_servers=platform.info["kafka"], acks="all")
    await producer.start()
    try:
        await producer.send_and_wait("shop.orders", b'{"type": "order.placed", "data": 42}', key=marker)
    finally:
        await producer.stop()
    records = await consume_until(platform.info["kafka"], "shop.orders.dlq", lambda r: r.key == marker, timeout_s=60)
    assert records, "no dead letter"
    headers = dict(records[0].headers)
    assert headers["x-original-topic"] == b"shop.orders" and b"event_id" in headers["x-dlq-reason"]

    customer_id = f"c-{uuid.uuid4().hex[:8]}"
    await post_events(platform, customer_and_order(customer_id, f"{customer_id}@example.de", total_minor=1_500))
    await eventually(lambda: pending_of(platform, customer_id, 15), timeout_s=60)


async def test_sigkill_of_loyalty_loses_nothing_and_applies_nothing_twice(platform: Platform) -> None:
    customers = [f"k-{uuid.uuid4().hex[:10]}" for _ in range(300)]
    events = [event for customer_id in customers for event in paid_order(customer_id, 1_000)]
    for start in range(0, len(events), 100):
        response = await post_events(platform, events[start : start + 100])
        assert response.json()["accepted"] == 100
        if start == 200:  # mid-stream: the first batches are in flight inside loyalty
            os.kill(platform.children()["loyalty"]["pid"], signal.SIGKILL)

    async def all_applied() -> bool:
        conn = await asyncpg.connect(platform.info["database_url"])
        try:
            rows = await conn.fetch(
                "SELECT customer_id, count(*) AS n, sum(points) AS points FROM loyalty.ledger_entries "
                "WHERE merchant_id = $1 AND customer_id = ANY($2::text[]) GROUP BY customer_id",
                platform.info["merchant_id"],
                customers,
            )
        finally:
            await conn.close()
        return len(rows) == len(customers) and rows

    rows = await eventually(all_applied, timeout_s=120, interval_s=1)
    assert {(r["n"], r["points"]) for r in rows} == {(1, 10)}
    assert platform.children()["loyalty"]["restarts"] >= 1
    assert "restart #1" in platform.log_tail(2000)


async def test_every_process_exposes_metrics(platform: Platform) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        for name, url in platform.info["urls"].items():
            text = (await http.get(f"{url}/metrics")).text
            assert "process_resident_memory_bytes" in text, name
        loyalty = (await http.get(f"{platform.info['urls']['loyalty']}/metrics")).text
    assert 'retention_events_applied_total{service="loyalty",topic="shop.orders"}' in loyalty


async def test_a_restart_keeps_postgres_data_and_recreates_topics(platform: Platform) -> None:
    customer_id = f"c-{uuid.uuid4().hex[:8]}"
    await post_events(platform, customer_and_order(customer_id, f"{customer_id}@example.de", total_minor=3_000))
    await eventually(lambda: pending_of(platform, customer_id, 30), timeout_s=60)
    old_key = platform.info["api_key"]

    assert platform.stop() == 0
    platform.start()

    assert (await loyalty_of(platform, customer_id, key=old_key))["pending"] == 30
    again = f"c-{uuid.uuid4().hex[:8]}"
    await post_events(platform, customer_and_order(again, f"{again}@example.de", total_minor=1_200))
    await eventually(lambda: pending_of(platform, again, 12), timeout_s=90)


async def test_merchant_runs_the_programme_through_the_gateway(platform: Platform) -> None:
    customer_id = f"c-{uuid.uuid4().hex[:8]}"
    customer = now(example_event("customer.created", customer_id=customer_id, email=f"{customer_id}@example.de"))
    customer["data"].pop("referrer_customer_id", None)
    await post_events(platform, [customer])
    await eventually(lambda: loyalty_of(platform, customer_id), timeout_s=60)  # 50 sign-up points
    headers = platform.headers()
    async with httpx.AsyncClient(base_url=platform.gateway, headers=headers, timeout=10) as http:
        bad = await http.put("/v1/loyalty/programme", json={"bonuses": {"signup": -1}, "merchant_id": "x"})
        assert bad.status_code == 422
        assert {e["path"] for e in bad.json()["errors"]} == {"bonuses.signup", "merchant_id"}
        saved = await http.put("/v1/loyalty/programme", json={"bonuses": {"review": 40}})
        assert saved.status_code == 200 and saved.json()["version"] >= 1
        reward = {"name_de": "Gratisversand", "name_en": "Free shipping", "type": "free_shipping", "points_price": 50}
        assert (await http.put("/v1/loyalty/rewards/ship-free", json=reward)).status_code == 200

        body = {"reward_id": "ship-free", "client_key": f"redeem-{customer_id}"}
        first = await http.post(f"/v1/customers/{customer_id}/redemptions", json=body)
        again = await http.post(f"/v1/customers/{customer_id}/redemptions", json=body)
        broke = await http.post(
            f"/v1/customers/{customer_id}/redemptions", json={**body, "client_key": f"second-{customer_id}"}
        )
        history = await http.get(f"/v1/customers/{customer_id}/loyalty/history", params={"lang": "en"})
    assert first.status_code == 201 and again.status_code == 200 and first.json()["code"] == again.json()["code"]
    assert broke.status_code == 422 and broke.json()["errors"][0]["path"] == "points"
    assert [i["description"] for i in history.json()["items"]] == [
        "50 points redeemed for a reward.",
        "50 welcome points for signing up.",
    ]


async def test_a_carrier_payload_through_the_gateway_delivers_the_order_and_confirms_its_points(
    platform: Platform,
) -> None:
    """Shop order → parcel → DHL's own tracking payload → tracking delivers the order → loyalty confirms the points
    (the return window after a delivery in 2025 is long over)."""
    customer_id, email = f"c-{uuid.uuid4().hex[:8]}", f"paket-{uuid.uuid4().hex[:6]}@example.de"
    customer = example_event("customer.created", customer_id=customer_id, email=email, locale="de-DE")
    customer["data"].pop("referrer_customer_id", None)
    events = [now(customer), *paid_order(customer_id, 4_990)]
    order_id = events[1]["data"]["order_id"]
    parcel = example_event(
        "shipment.created",
        order_id=order_id,
        customer_id=customer_id,
        shipment_id=f"s-{customer_id}",
        tracking_number="00340434161094042557",
        line_ids=[line["line_id"] for line in events[1]["data"]["lines"]],
    )
    payload = json.loads((Path(__file__).parents[1] / "fixtures/carriers/dhl/parcel_de_delivered.json").read_text())
    response = await post_events(platform, [*events, now(parcel)])
    assert response.status_code == 200 and response.json()["accepted"] == 4, response.text
    await eventually(lambda: pending_of(platform, customer_id, 49), timeout_s=60)

    async with httpx.AsyncClient(base_url=platform.gateway, headers=platform.headers(), timeout=10) as http:

        async def parcel_known() -> bool:
            return (await http.get(f"/v1/orders/{order_id}/tracking")).status_code == 200

        await eventually(parcel_known, timeout_s=60)
        intake = await http.post("/v1/carriers/dhl/scans", json=payload)
        assert intake.status_code == 202 and intake.json()["accepted"] == 5, intake.text
        assert (await http.post("/v1/carriers/dhl/scans", json={"shipments": "no"})).status_code == 422

        async def delivered() -> dict[str, Any] | None:
            tracking = (await http.get(f"/v1/orders/{order_id}/tracking")).json()
            return tracking if tracking["delivered"] else None

        tracking = await eventually(delivered, timeout_s=60)
        timeline = tracking["shipments"][0]["timeline"]
        assert [scan["raw_status_code"] for scan in timeline][-1] == "delivered" and len(timeline) == 5
        performance = await http.get("/v1/tracking/performance", params={"since": "2025-01-01T00:00:00Z"})
        assert performance.status_code == 200 and performance.json()["delivered"] >= 1
        link = (await http.get(f"/v1/orders/{order_id}/tracking-link")).json()["url"]
        assert link.startswith(platform.gateway + "/t/")
        async with httpx.AsyncClient(timeout=10) as shopper:  # no API key: the link is the credential
            page = await shopper.get(link, params={"lang": "en"})
            forged = await shopper.get(link[:-4] + "AAAA")
        assert page.status_code == 200 and "Delivered" in page.text and "Every parcel of this order" in page.text
        assert forged.status_code == 404

    async def confirmed() -> dict[str, Any] | None:
        loyalty = await loyalty_of(platform, customer_id)
        return loyalty if loyalty and loyalty["pending"] == 0 and loyalty["balance"] >= 49 else None

    loyalty = await eventually(confirmed, timeout_s=90)
    assert "first_order" in {h["reason_code"] for h in loyalty["history"]}  # paid once the first order arrived

    def subjects() -> set[str] | None:  # what tracking and loyalty asked notifications to tell the customer
        found = {str(m["Subject"]) for m in read_mails(Path(platform.info["mail_dir"])) if email in str(m["To"])}
        # No "Dein Paket ist angekommen": the carrier's delivery scan is from 2025, and stale news never mails.
        wanted = {"Deine Bestellung ist unterwegs", "49 Punkte sind jetzt verfügbar"}
        return found if wanted <= found else None

    await eventually(subjects, timeout_s=60)
    shipped = next(m for m in read_mails(Path(platform.info["mail_dir"])) if email in str(m["To"])
                   and m["Subject"] == "Deine Bestellung ist unterwegs")  # fmt: skip
    mailed = re.search(r"https?://\S+/t/[A-Za-z0-9_.-]+", shipped.get_body(("plain",)).get_content())
    assert mailed is not None  # the customer page, not just the carrier's
    async with httpx.AsyncClient(timeout=10) as shopper:
        assert (await shopper.get(mailed.group(0))).status_code == 200


async def test_the_shop_words_its_own_order_mail_through_the_gateway(platform: Platform) -> None:
    """A hostile template is refused with the part and reason; a good one previews and then words the real mail;
    reset brings the default back."""
    url = "/v1/notifications/templates/order_received/de"
    own = {
        "subject": "Bestellung {{ order_number }} ist da – danke, {{ first_name or 'du' }}!",
        "text": "{{ greeting }}\n\nwir haben {{ items }} Artikel für {{ total_minor|money(currency, locale) }} notiert."
        "\n\n{{ sign_off }}\n{{ merchant_name }}",
        "html": "<p>{{ greeting }}</p><p>Wir haben <b>{{ items }}</b> Artikel notiert.</p>",
    }
    async with httpx.AsyncClient(base_url=platform.gateway, headers=platform.headers(), timeout=10) as http:
        try:
            hostile = await http.put(url, json={**own, "text": "{{ ''.__class__.__mro__ }} {{ items|attr('x') }}"})
            assert hostile.status_code == 422, hostile.text
            assert hostile.headers["content-type"].startswith("application/problem+json")
            reasons = {e["path"]: e["message"] for e in hostile.json()["errors"]}
            assert set(reasons) == {"text"} and "`__class__` is not allowed" in hostile.text
            assert "`attr` filter" in hostile.text
            unknown = await http.put(url, json={**own, "subject": "{{ ordr_number }}"})
            assert unknown.status_code == 422 and "unknown variable(s) ordr_number" in unknown.text
            assert (await http.put("/v1/notifications/templates/no_such/de", json=own)).status_code == 422

            preview = await http.post(f"{url}/preview", json={"draft": own})
            assert preview.status_code == 200, preview.text
            assert preview.json()["subject"] == "Bestellung 100234 ist da – danke, Anna!"
            assert (await http.put(url, json=own)).status_code == 200
            listed = (await http.get("/v1/notifications/templates")).json()["templates"]
            assert {"message": "order_received", "locale": "de", "customised": True} in [
                {k: t[k] for k in ("message", "locale", "customised")} for t in listed
            ]

            customer_id, email = f"c-{uuid.uuid4().hex[:8]}", f"kunde-{uuid.uuid4().hex[:6]}@example.de"
            assert (await post_events(platform, customer_and_order(customer_id, email, 4_990))).status_code == 200

            def order_mail() -> Any:
                mails = [m for m in read_mails(Path(platform.info["mail_dir"])) if email in str(m["To"])]
                return next((m for m in mails if str(m["Subject"]).startswith("Bestellung")), None)

            mail = await eventually(order_mail, timeout_s=60)
            assert "Artikel für 49,90" in mail.get_body(("plain",)).get_content()
        finally:
            reset = await http.delete(url)
        assert reset.status_code == 200 and reset.json()["customised"] is False
        assert "Danke für" in reset.json()["subject"]


async def test_a_segment_through_the_gateway_fills_from_shop_events_and_announces_entries_on_kafka(
    platform: Platform,
) -> None:
    """Merchant defines a segment → shop events through /v1/events → segments' consumer → membership in the API,
    an explanation, and `segment.entered` on the segments.events topic; a malformed tree is refused with its path."""
    segment_id = f"big-{uuid.uuid4().hex[:6]}"
    spender, small = f"c-{uuid.uuid4().hex[:8]}", f"c-{uuid.uuid4().hex[:8]}"
    definition = {"op": "and", "of": [{"op": "compare", "property": "revenue_minor", "cmp": ">=", "value": 10_000},
                                      {"op": "performed", "event": "order.placed", "within_days": 30}]}  # fmt: skip
    async with httpx.AsyncClient(base_url=platform.gateway, headers=platform.headers(), timeout=10) as http:
        bad = {"op": "performed", "event": "order.placed", "within_days": -3}
        refused = await http.post("/v1/segments", json={"segment_id": segment_id, "name": "x", "definition": bad})
        assert refused.status_code == 422 and refused.json()["errors"][0]["path"] == "definition.within_days"
        body = {"segment_id": segment_id, "name": "Große Bestellungen", "definition": definition}
        assert (await http.post("/v1/segments", json=body)).status_code == 201
        await post_events(platform, [*paid_order(spender, 12_000), *paid_order(small, 2_000)])

        async def members() -> list[str] | None:
            page = (await http.get(f"/v1/segments/{segment_id}/members")).json()
            return [m["customer_id"] for m in page["items"]] or None

        assert await eventually(members, timeout_s=60) == [spender]
        why = (await http.get(f"/v1/customers/{small}/segments/{segment_id}/explain")).json()
        assert not why["holds_now"] and "revenue_minor is 2000, wanted >= 10000" in why["text"]
    records = await consume_until(
        platform.info["kafka"], "segments.events",
        lambda r: b'"segment.entered"' in r.value and segment_id.encode() in r.value, timeout_s=60,
    )  # fmt: skip
    (entered,) = [json.loads(r.value) for r in records]
    assert entered["data"]["customer_id"] == spender and entered["data"]["cause"] == "event"
    assert entered["merchant_id"] == platform.info["merchant_id"]
