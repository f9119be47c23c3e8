"""The audience pusher against a real local HTTP server: retries, signature, idempotency key, no retry on a 400."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from tenacity import wait_none

from services.segments.adapters.audience_push import SIGNATURE_HEADER, AudiencePusher, PushFailed
from services.segments.domain.audiences import AudienceMember, delta_payload

pytestmark = pytest.mark.integration

SECRET = "s3cret-for-the-merchant"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Destination:
    """What each path answers, in order (the last answer repeats), and every request it got."""

    base_url: str
    script: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    received: dict[str, list[Received]] = field(default_factory=dict)

    def answer(self, path: str, *answers: int | tuple[int, float]) -> str:
        self.script[path] = [a if isinstance(a, tuple) else (a, 0.0) for a in answers]
        return self.base_url + path


@pytest.fixture
def destination() -> Iterator[Destination]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    dest = Destination(base_url=f"http://127.0.0.1:{server.server_address[1]}")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                seen = dest.received.setdefault(self.path, [])
                seen.append(Received(dict(self.headers.items()), body))
                answers = dest.script.get(self.path, [(404, 0.0)])
                status, delay = answers[min(len(seen), len(answers)) - 1]
            time.sleep(delay)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client may have timed out
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}' if status < 300 else b'{"error": "scripted"}')

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield dest
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def payload() -> dict:
    someone = AudienceMember("c1", "Jürgen.Müller@Example.de", "0231 1234567", "Jürgen", "Müller", "44135", None, "DE")
    return delta_payload("meta", [someone], [])


async def test_retries_503s_then_delivers_signed_with_one_idempotency_key(destination: Destination) -> None:
    url = destination.answer("/hook", 503, 503, 200)
    async with httpx.AsyncClient(timeout=5) as client:
        await AudiencePusher(client, wait=wait_none()).push(url, SECRET, payload(), "seg-42:v7")
    got = destination.received["/hook"]
    assert len(got) == 3
    assert {r.headers["Idempotency-Key"] for r in got} == {"seg-42:v7"}
    assert len({r.body for r in got}) == 1
    for r in got:
        expected = "sha256=" + hmac.new(SECRET.encode(), r.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(r.headers[SIGNATURE_HEADER], expected)
        assert r.headers["Content-Type"] == "application/json"
    assert json.loads(got[-1].body) == payload()


async def test_a_400_is_not_retried(destination: Destination) -> None:
    url = destination.answer("/strict", 400)
    async with httpx.AsyncClient(timeout=5) as client:
        with pytest.raises(PushFailed) as failure:
            await AudiencePusher(client, wait=wait_none()).push(url, SECRET, payload(), "k1")
    assert failure.value.status == 400 and failure.value.url == url
    assert "scripted" in failure.value.reason
    assert len(destination.received["/strict"]) == 1


async def test_gives_up_after_the_last_attempt_with_the_last_status(destination: Destination) -> None:
    url = destination.answer("/down", 500, 502, 429)
    async with httpx.AsyncClient(timeout=5) as client:
        with pytest.raises(PushFailed) as failure:
            await AudiencePusher(client, attempts=4, wait=wait_none()).push(url, None, payload(), "k2")
    assert failure.value.status == 429
    got = destination.received["/down"]
    assert len(got) == 4
    assert all(SIGNATURE_HEADER not in r.headers for r in got)  # no secret, no signature


async def test_a_timeout_is_retried(destination: Destination) -> None:
    url = destination.answer("/slow", (200, 1.0), 200)
    async with httpx.AsyncClient(timeout=0.3) as client:
        await AudiencePusher(client, wait=wait_none()).push(url, SECRET, payload(), "k3")
    assert len(destination.received["/slow"]) == 2


async def test_an_unreachable_destination_fails_without_a_status() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with httpx.AsyncClient(timeout=1) as client:
        with pytest.raises(PushFailed) as failure:
            await AudiencePusher(client, attempts=3, wait=wait_none()).push(
                f"http://127.0.0.1:{port}/hook", SECRET, payload(), "k4"
            )
    assert failure.value.status is None and "ConnectError" in failure.value.reason
