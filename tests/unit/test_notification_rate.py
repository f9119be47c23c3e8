"""The per-merchant send rate: a burst goes at once, the rest is deferred to when tokens are back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.domain.rate import MerchantRate

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_burst_then_one_token_per_interval_and_merchants_do_not_share() -> None:
    rate = MerchantRate(per_second=2, burst=3)
    assert [rate.take("m1", T0) for _ in range(3)] == [None, None, None]
    assert rate.take("m1", T0) == T0 + timedelta(seconds=0.5)  # deferred to the next token, nothing spent
    assert rate.take("m2", T0) is None  # another shop's mail does not wait behind m1's campaign
    assert rate.take("m1", T0 + timedelta(seconds=0.5)) is None
    assert rate.take("m1", T0 + timedelta(seconds=0.5)) == T0 + timedelta(seconds=1)
    assert [rate.take("m1", T0 + timedelta(hours=1)) for _ in range(4)][:3] == [None] * 3  # refills to the burst


def test_zero_means_no_limit() -> None:
    rate = MerchantRate(per_second=0)
    assert all(rate.take("m1", T0) is None for _ in range(10_000))


def test_idle_keys_are_forgotten_when_there_are_too_many(monkeypatch: pytest.MonkeyPatch) -> None:
    import services.common.rate as rate_module

    monkeypatch.setattr(rate_module, "MAX_KEYS", 3)
    rate = MerchantRate(per_second=1, burst=1)
    for n in range(3):
        rate.take(f"ip{n}", T0)
    assert rate.take("ip3", T0 + timedelta(seconds=5)) is None  # the idle three made room
    assert len(rate._tokens) == 1
