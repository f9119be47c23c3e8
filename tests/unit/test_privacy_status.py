"""The erasure status and the export's all-or-nothing rule, decided without any service (a stand-in client)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import HTTPException

from services.gateway.api.routes.privacy import _confirmation_of, _each_service, _export_of, completion

LOYALTY = {"erased_at": "2026-03-05T14:30:01.204000+00:00"}
SEGMENTS = {"erased_at": "2026-03-05T14:30:02.500000Z"}


def test_an_erasure_is_complete_only_once_every_service_confirmed_and_then_at_the_last_confirmation() -> None:
    assert completion({"loyalty": LOYALTY, "segments": None}) is None
    assert completion({}) is None  # no service asked is no proof
    assert completion({"loyalty": LOYALTY, "segments": SEGMENTS}) == datetime(2026, 3, 5, 14, 30, 2, 500000, UTC)


class Services:
    """What `ServiceClient.get` answers per service: a dict, or the HTTPException it raises."""

    def __init__(self, answers: dict[str, dict[str, Any] | HTTPException]) -> None:
        self.answers = answers
        self.urls = {name: f"http://{name}" for name in answers}

    async def get(self, service: str, path: str) -> dict[str, Any]:
        answer = self.answers[service]
        if isinstance(answer, HTTPException):
            raise answer
        return answer


async def test_a_service_that_has_not_applied_it_is_pending_and_one_that_is_down_is_a_503() -> None:
    services = Services({"loyalty": LOYALTY, "segments": HTTPException(404, "Erasure not applied")})
    found = await _each_service(services, lambda name: _confirmation_of(services, name, "/p"))
    assert found == {"loyalty": LOYALTY, "segments": None}

    services.answers["segments"] = HTTPException(503, "The segments service is unavailable; try again shortly")
    with pytest.raises(HTTPException) as raised:
        await _each_service(services, lambda name: _confirmation_of(services, name, "/p"))
    assert raised.value.status_code == 503


async def test_an_export_is_all_or_nothing() -> None:
    services = Services({"loyalty": {"account": None}, "tracking": {"orders": []}})
    found = await _each_service(services, lambda name: _export_of(services, name, "/p"))
    assert found == {"loyalty": {"account": None}, "tracking": {"orders": []}}

    services.answers["tracking"] = HTTPException(404, "Not Found")  # a service without the export route
    with pytest.raises(HTTPException) as raised:
        await _each_service(services, lambda name: _export_of(services, name, "/p"))
    assert raised.value.status_code == 503 and "tracking" in raised.value.detail
