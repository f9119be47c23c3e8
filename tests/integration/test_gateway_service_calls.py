"""The gateway's calls to the services against a real local HTTP server that fails before it answers: reads are
retried (connection errors, timeouts, 502/503/504) and succeed, mutating calls are never retried, slow reads get a
longer budget, and a service that is down or keeps failing is a 503 problem+json naming it."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi import HTTPException

from services.gateway.adapters.services import ServiceClient
from services.platform.infra import free_port
from tests.gateway_support import PROBLEM, Gateway, running_gateway

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any = None  # JSON, or bytes as they are
    delay_s: float = 0.0
    content_type: str = "application/json"


@dataclass
class Service:
    """A stand-in service: what each path answers, in order (the last answer repeats), and the calls it got."""

    url: str
    script: dict[str, list[Answer]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)

    def answer(self, path: str, *answers: Answer | int) -> None:
        self.script[path] = [a if isinstance(a, Answer) else Answer(a) for a in answers]

    def count(self, method: str, path: str) -> int:
        return self.calls.count((method, path))


@pytest.fixture
def service() -> Iterator[Service]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    stub = Service(url=f"http://127.0.0.1:{server.server_address[1]}")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _respond(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            path = urlsplit(self.path).path
            with lock:
                stub.calls.append((self.command, path))
                answers = stub.script.get(path, [Answer(404, {"type": "about:blank", "title": "Not found"})])
                answer = answers[min(stub.count(self.command, path), len(answers)) - 1]
            time.sleep(answer.delay_s)
            body = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the caller may have timed out
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _respond

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
async def gateway(infra, topics, service: Service) -> AsyncIterator[Gateway]:
    """The gateway with loyalty and segments at the stand-in, notifications and tracking down."""
    down = {"notifications_url": f"http://127.0.0.1:{free_port()}", "tracking_url": f"http://127.0.0.1:{free_port()}"}
    async with running_gateway(infra, loyalty_url=service.url, segments_url=service.url, **down) as gateway:
        yield gateway


async def test_a_read_is_retried_until_the_service_answers(gateway: Gateway, service: Service) -> None:
    merchant_id, key = await gateway.merchant()
    base = f"/internal/v1/merchants/{merchant_id}"
    service.answer(f"{base}/customers/c-1/loyalty", 503, 502, Answer(200, {"customer_id": "c-1", "balance": 5}))
    service.answer(f"{base}/customers/c-1/loyalty/history", 504, Answer(200, {"items": [], "next_cursor": None}))
    csv = b"EMAIL,PHONE\n5f0c,9a1e\n"
    service.answer(f"{base}/segments/vip/audience", 503, Answer(200, csv, content_type="text/csv; charset=utf-8"))

    loyalty = await gateway.http.get("/v1/customers/c-1/loyalty", headers=key)
    assert loyalty.status_code == 200 and loyalty.json() == {"customer_id": "c-1", "balance": 5}
    assert service.count("GET", f"{base}/customers/c-1/loyalty") == 3  # failed twice, then answered
    history = await gateway.http.get("/v1/customers/c-1/loyalty/history", headers=key)  # a forwarded (paged) read
    assert history.status_code == 200 and history.json()["items"] == []
    assert service.count("GET", f"{base}/customers/c-1/loyalty/history") == 2
    audience = await gateway.http.get("/v1/segments/vip/audience", params={"format": "meta"}, headers=key)
    assert audience.status_code == 200 and audience.content == csv  # streamed, after one retry
    assert service.count("GET", f"{base}/segments/vip/audience") == 2


async def test_a_mutating_call_is_never_retried(gateway: Gateway, service: Service) -> None:
    merchant_id, key = await gateway.merchant()
    base = f"/internal/v1/merchants/{merchant_id}"
    service.answer(f"{base}/customers/c-1/redemptions", 503, Answer(201, {"code": "FIVE-OFF-1"}))
    service.answer(f"{base}/rewards/five-off", 502, Answer(204, b""))

    redeemed = await gateway.http.post(
        "/v1/customers/c-1/redemptions", json={"reward_id": "five-off", "client_key": "order-10042"}, headers=key
    )
    assert redeemed.status_code == 503 and redeemed.headers["content-type"] == PROBLEM
    assert redeemed.json()["title"] == "The loyalty service failed; try again shortly"
    assert service.count("POST", f"{base}/customers/c-1/redemptions") == 1  # may have been applied: not repeated
    deleted = await gateway.http.delete("/v1/loyalty/rewards/five-off", headers=key)
    assert deleted.status_code == 503 and service.count("DELETE", f"{base}/rewards/five-off") == 1


async def test_a_service_that_is_down_or_keeps_failing_is_a_503_problem(gateway: Gateway, service: Service) -> None:
    merchant_id, key = await gateway.merchant()
    down = await gateway.http.get("/v1/orders/o-1/tracking", headers=key)
    assert down.status_code == 503 and down.headers["content-type"] == PROBLEM
    assert down.json() == {
        "type": "about:blank",
        "title": "The tracking service is unavailable; try again shortly",
        "status": 503,
    }
    assert down.headers["retry-after"] == "1"
    paged = await gateway.http.get("/v1/customers/c-1/consent", headers=key)  # notifications, forwarded
    assert paged.status_code == 503 and "notifications service is unavailable" in paged.json()["title"]

    path = f"/internal/v1/merchants/{merchant_id}/customers/c-1/loyalty"
    service.answer(path, 503)
    failing = await gateway.http.get("/v1/customers/c-1/loyalty", headers=key)
    assert failing.status_code == 503 and failing.headers["content-type"] == PROBLEM
    assert failing.json()["title"] == "The loyalty service failed; try again shortly"
    assert service.count("GET", path) == 3  # at most three attempts


async def test_timeouts_retry_reads_and_give_slow_reads_a_longer_budget(service: Service) -> None:
    client = ServiceClient({"svc": service.url}, timeout_s=0.3, slow_timeout_s=3.0)
    try:
        service.answer(
            "/internal/v1/merchants/m-1/customers/c-1/loyalty", Answer(200, {"n": 1}, 1.0), Answer(200, {"n": 2})
        )
        started = time.monotonic()
        assert await client.get("svc", "/internal/v1/merchants/m-1/customers/c-1/loyalty") == {"n": 2}
        assert time.monotonic() - started < 1.0  # the first try timed out after 0.3 s; the retry answered
        assert service.count("GET", "/internal/v1/merchants/m-1/customers/c-1/loyalty") == 2

        service.answer("/internal/v1/merchants/m-1/predictions/refresh", Answer(202, {"status": "scheduled"}, 1.0))
        with pytest.raises(HTTPException) as timed_out:
            await client.send("POST", "svc", "/internal/v1/merchants/m-1/predictions/refresh")
        assert timed_out.value.status_code == 503 and "svc service is unavailable" in timed_out.value.detail
        assert service.count("POST", "/internal/v1/merchants/m-1/predictions/refresh") == 1

        service.answer("/internal/v1/merchants/m-1/kpis", Answer(200, {"months": []}, 0.6))
        kpis = await client.send("GET", "svc", "/internal/v1/merchants/m-1/kpis", params={"from": "2026-01"})
        assert kpis.status_code == 200 and service.count("GET", "/internal/v1/merchants/m-1/kpis") == 1
        slow = client.timeout_for("GET", "/internal/v1/merchants/m-1/customers/c-1/privacy/export")
        assert slow.read == 3.0 and slow.connect == 0.3  # a down service is still found out quickly
        assert client.timeout_for("POST", "/internal/v1/merchants/m-1/kpis").read == 0.3
    finally:
        await client.close()
