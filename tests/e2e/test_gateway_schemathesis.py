"""Schemathesis against the live gateway (issue #7): every operation of its OpenAPI document, with a bounded number of
requests each (the document's own examples; the boundary and missing values of each parameter and body field; then
`MAX_EXAMPLES` generated ones, valid and invalid; all derandomised), against the whole platform (`retention up`:
gateway, loyalty, notifications, segments, tracking, broker, database). No answer may be a 5xx, and every answer must
be documented: its status, its content type and its body's schema.

The operations are generated at collection from the same app factory the gateway runs (`build_service_app(SPEC)`),
and the live `/openapi.json` is checked to be that very document before anything is sent. (Schemathesis's lazy
loader, `schemathesis.pytest.from_fixture`, would fetch it from the running gateway instead, but it fails on pytest
9.2: it sets `Function._nodeid`, which pytest no longer has.)

The demo merchant is seeded with the customer, order, parcel and review of the contract's examples (`c-4711`,
`o-100234`), and the segment and reward of the OpenAPI examples, so that the examples phase reaches real answers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.config import HealthCheck
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.common.service_app import build_service_app
from services.common.settings import Settings
from services.gateway.bootstrap import SPEC
from tests.e2e.test_platform import Platform, now
from tests.support import example_event

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
#: Generated requests per operation in the fuzzing phase (the examples and coverage phases add their own).
MAX_EXAMPLES = 8
#: The rate limits are raised for this platform: a 429 is documented, but would hide what the route answers.
UNTHROTTLED = {
    "RETENTION_GATEWAY_RATE_PER_KEY": "100000",
    "RETENTION_GATEWAY_BURST_PER_KEY": "1000000",
    "RETENTION_GATEWAY_PUBLIC_RATE_PER_IP": "10000",
    "RETENTION_GATEWAY_PUBLIC_BURST_PER_IP": "100000",
    "RETENTION_GATEWAY_EXPORTS_PER_MINUTE": "0",  # 0: no quota on exports and previews
    "RETENTION_GATEWAY_SENDS_PER_MINUTE": "0",
}


def gateway_openapi() -> dict[str, Any]:
    """The gateway's OpenAPI document, built without starting anything (no database, no broker)."""
    settings = Settings(KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9", DATABASE_URL="postgresql://unused/unused")
    return build_service_app(SPEC, settings).openapi()


DOCUMENT = gateway_openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)
schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, database="none")
schema.config.phases.update(phases=["examples", "coverage", "fuzzing"])
schema.config.update(suppress_health_check=[HealthCheck.too_slow])  # timing: a busy 2-core machine, not a finding
schema = (
    # The operator's API: another credential (the admin token), and it creates merchants and issues keys.
    schema.exclude(tag="admin")
    # Shopify's deliveries: without an HMAC over the exact body every request is the same 401, nothing else is
    # reached (tests/integration/test_gateway_webhooks.py signs real ones).
    .exclude(method="POST", path="/v1/webhooks/shopify/{merchant_id}")
    # Rotating or revoking the calling key would lock the rest of the run out (tests/integration/test_gateway_keys.py).
    .exclude(method="POST", path="/v1/keys/{key_id}/rotate")
    .exclude(method="DELETE", path="/v1/keys/{key_id}")
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The platform, its gateway unthrottled, serving exactly `DOCUMENT`, with the demo merchant's data in."""
    running = Platform(tmp_path_factory.mktemp("platform"))
    with pytest.MonkeyPatch.context() as env:  # `retention up` hands its environment to every service it starts
        for name, value in UNTHROTTLED.items():
            env.setenv(name, value)
        running.start()
    try:
        with httpx.Client(base_url=running.gateway, headers=running.headers(), timeout=30) as http:
            assert http.get("/openapi.json").json() == DOCUMENT, "the live gateway serves another document"
            seed(http)
        yield running
    finally:
        running.stop()


def seed(http: httpx.Client) -> None:
    """The contract's example customer with an order, its parcel and a review; the OpenAPI examples' segment and
    reward; applied by every service before the first generated request."""
    events = [now(example_event(t)) for t in ("customer.created", "consent.changed", "order.placed", "order.paid")]
    parcel = example_event(
        "shipment.created", promised_delivery_date=str((datetime.now(UTC) + timedelta(days=3)).date())
    )
    events += [now(parcel), now(example_event("review.submitted"))]
    answer = http.post("/v1/events", json={"events": events})
    assert answer.status_code == 200 and answer.json()["accepted"] == len(events), answer.text
    segment = DOCUMENT["paths"]["/v1/segments"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    created = http.post("/v1/segments", json=next(iter(segment.values()))["value"])
    assert created.status_code == 201, created.text
    reward = {
        "type": "fixed_amount",
        "name_de": "5 € Rabatt",
        "name_en": "€5 off",
        "points_price": 50,
        "value_minor": 500,
    }
    assert http.put("/v1/loyalty/rewards/five-off", json=reward).status_code == 200
    destination = {"format": "meta", "url": "https://hooks.example.com/audiences/active-coffee"}
    assert http.put("/v1/segments/active-coffee/audience-destination", json=destination).status_code == 200

    applied = ("/v1/customers/c-4711/loyalty", "/v1/customers/c-4711/profile", "/v1/orders/o-100234/tracking")
    deadline = time.monotonic() + 60
    while any(http.get(path).status_code != 200 for path in applied):
        assert time.monotonic() < deadline, "the seeded customer did not reach every service within 60 s"
        time.sleep(0.2)


@schema.parametrize()
def test_every_answer_is_documented_and_no_5xx(case: schemathesis.Case, gateway: Platform) -> None:
    case.call_and_validate(base_url=gateway.gateway, headers=gateway.headers(), checks=CHECKS)


def test_only_the_named_operations_are_left_out() -> None:
    operations = {(m.upper(), p) for p, ops in DOCUMENT["paths"].items() for m in ops}
    fuzzed = {(r.ok().method.upper(), r.ok().path) for r in schema.get_all_operations()}
    admin = {(m, p) for m, p in operations if p.startswith("/admin/")}
    assert operations - fuzzed == admin | {
        ("POST", "/v1/webhooks/shopify/{merchant_id}"),
        ("POST", "/v1/keys/{key_id}/rotate"),
        ("DELETE", "/v1/keys/{key_id}"),
    }
