"""Per-merchant quotas on costly operations through the gateway (real PostgreSQL and Kafka, services stood in by a
local HTTP server): the audience CSV and the privacy export share the `exports` quota of all of a merchant's keys, a
call beyond it is a 429 problem+json with `Retry-After`, other merchants and other routes are not touched, and a call
refused for its key's scope spends nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from services.common.settings import Settings
from services.gateway.adapters.merchants import create_key
from services.gateway.api.quotas import quota_buckets
from tests.gateway_support import PROBLEM, Gateway, running_gateway
from tests.integration.test_gateway_service_calls import Answer, Service, service  # noqa: F401

pytestmark = pytest.mark.integration


@pytest.fixture
async def gateway(infra, topics, service: Service) -> AsyncIterator[Gateway]:  # noqa: F811
    """Every service at the stand-in; two exports at once, then one a minute."""
    urls = {f"{name}_url": service.url for name in ("loyalty", "notifications", "segments", "tracking")}
    quotas = {"gateway_exports_per_minute": 1, "gateway_exports_burst": 2,
              "gateway_sends_per_minute": 1, "gateway_sends_burst": 1}  # fmt: skip
    async with running_gateway(infra, **quotas, **urls) as gateway:
        yield gateway


def stand_in(service: Service, merchant_id: str) -> None:  # noqa: F811
    base = f"/internal/v1/merchants/{merchant_id}"
    service.answer(f"{base}/segments/vip/audience", Answer(200, b"EMAIL\n5f0c\n", content_type="text/csv"))
    service.answer(f"{base}/customers/c-1/privacy/export", Answer(200, {"erasures": []}))
    service.answer(f"{base}/kpis", Answer(200, {"by": "overall", "segment": None, "months": []}))
    preview = {"subject": "Danke", "html": "<p>Danke</p>", "text": "Danke"}
    service.answer(f"{base}/notifications/templates/shipped/de/preview", Answer(200, preview))


async def test_exports_share_a_per_merchant_quota(gateway: Gateway, service: Service) -> None:  # noqa: F811
    merchant_id, key = await gateway.merchant()
    other_id, other_key = await gateway.merchant()
    second_key = {"Authorization": f"Bearer {await create_key(gateway.runtime.pool, merchant_id, label='second')}"}
    for merchant in (merchant_id, other_id):
        stand_in(service, merchant)
    http = gateway.http

    audience = await http.get("/v1/segments/vip/audience", params={"format": "meta"}, headers=key)
    assert audience.status_code == 200 and audience.content == b"EMAIL\n5f0c\n"
    assert (await http.get("/v1/customers/c-1/export", headers=key)).status_code == 200
    for call in (
        http.get("/v1/segments/vip/audience", params={"format": "meta"}, headers=key),
        http.get("/v1/customers/c-1/export", headers=second_key),  # the merchant's other key: the same quota
    ):
        refused = await call
        assert refused.status_code == 429 and refused.headers["content-type"] == PROBLEM
        assert refused.json() == {
            "type": "about:blank",
            "title": "Quota exceeded: too many exports for this merchant",
            "status": 429,
        }
        assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert service.count("GET", f"/internal/v1/merchants/{merchant_id}/segments/vip/audience") == 1  # never reached

    # Other routes of the merchant, and other merchants, are not touched by it.
    kpis = await http.get("/v1/kpis", params={"from": "2026-01", "to": "2026-02"}, headers=key)
    assert kpis.status_code == 200
    assert (await http.get("/v1/customers/c-1/export", headers=other_key)).status_code == 200


async def test_mail_previews_have_their_own_quota(gateway: Gateway, service: Service) -> None:  # noqa: F811
    merchant_id, key = await gateway.merchant()
    stand_in(service, merchant_id)
    path = "/v1/notifications/templates/shipped/de/preview"
    assert (await gateway.http.post(path, json={}, headers=key)).status_code == 200
    refused = await gateway.http.post(path, json={}, headers=key)
    assert refused.status_code == 429 and "sends" in refused.json()["title"]
    assert (await gateway.http.get("/v1/customers/c-1/export", headers=key)).status_code == 200  # exports: untouched


async def test_a_call_refused_for_its_scope_spends_nothing(gateway: Gateway, service: Service) -> None:  # noqa: F811
    merchant_id, key = await gateway.merchant()
    stand_in(service, merchant_id)
    token = await create_key(gateway.runtime.pool, merchant_id, scopes=("customers:read",), label="read-only")
    read_only = {"Authorization": f"Bearer {token}"}
    for _ in range(3):
        refused = await gateway.http.get("/v1/customers/c-1/export", headers=read_only)
        assert refused.status_code == 403 and "privacy:read" in refused.json()["title"]
    for _ in range(2):  # the whole burst is still there
        assert (await gateway.http.get("/v1/customers/c-1/export", headers=key)).status_code == 200
    assert (await gateway.http.get("/v1/customers/c-1/export", headers=key)).status_code == 429


def test_a_rate_of_zero_means_no_quota() -> None:
    buckets = quota_buckets(Settings(gateway_exports_per_minute=0, gateway_sends_per_minute=0))
    now = datetime.now(UTC)
    assert all(buckets[name].take("merchant:m-1", now) is None for name in ("exports", "sends") for _ in range(100))
    defaults = quota_buckets(Settings())
    assert defaults["exports"].burst == 5 and defaults["exports"].per_second == pytest.approx(10 / 60)
