"""Kernel pieces that need no infrastructure: settings, error taxonomy, retries, paths, backoff."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError
from pydantic import ValidationError

from services.common.errors import InvalidMessage, is_transient, retry_transient
from services.common.http import field_path
from services.common.migrations import MigrationError, discover
from services.common.settings import Settings
from services.platform.supervisor import MAX_BACKOFF_S, backoff_delay


def test_production_refuses_placeholder_secrets() -> None:
    with pytest.raises(ValidationError, match="RETENTION_SECRET_KEY"):
        Settings(env="production")
    ok = Settings(env="production", secret_key="s" * 32, admin_token="a" * 32)
    assert ok.env == "production"


def test_settings_read_standard_variable_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("RETENTION_KAFKA_IDEMPOTENCE", "true")
    s = Settings()
    assert (s.kafka_bootstrap_servers, s.database_url, s.kafka_idempotence) == (
        "k1:9092,k2:9092",
        "postgresql://u@h/db",
        True,
    )


def test_error_taxonomy() -> None:
    assert is_transient(ConnectionRefusedError())
    assert is_transient(KafkaConnectionError())
    assert is_transient(asyncpg.exceptions.CannotConnectNowError())
    assert not is_transient(KeyError("bug"))
    assert not is_transient(InvalidMessage("bad"))
    assert not is_transient(asyncpg.exceptions.UniqueViolationError())


async def test_retry_transient_retries_until_success_and_counts() -> None:
    calls, retried = [], []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionResetError("db went away")
        return "done"

    assert await retry_transient(flaky, name="t", on_retry=retried.append, max_wait_s=0.01) == "done"
    assert len(calls) == 3 and len(retried) == 2


async def test_retry_transient_lets_bugs_through_at_once() -> None:
    calls = []

    async def buggy() -> None:
        calls.append(1)
        raise KeyError("missing")

    with pytest.raises(KeyError):
        await retry_transient(buggy, name="t")
    assert len(calls) == 1


def test_field_path_rendering() -> None:
    assert field_path(("body", "events", 0, "data", "lines", 2, "quantity")) == "events[0].data.lines[2].quantity"
    assert field_path(("query", "limit")) == "limit"


def test_backoff_grows_and_is_capped() -> None:
    delays = [backoff_delay(n) for n in range(1, 12)]
    assert delays[0] == 0.5 and delays == sorted(delays) and delays[-1] == MAX_BACKOFF_S


def test_migration_files_must_be_numbered(tmp_path) -> None:
    (tmp_path / "0001_ok.sql").write_text("SELECT 1")
    assert [m.version for m in discover(tmp_path)] == ["0001"]
    (tmp_path / "init.sql").write_text("SELECT 1")
    with pytest.raises(MigrationError):
        discover(tmp_path)


def test_dead_letter_reason_labels_stay_bounded() -> None:
    from services.common.consumer import _reason_label

    assert _reason_label("data.lines[3].quantity: 0 is less than the minimum of 1") == "data.lines[].quantity"
    assert _reason_label("empty message value (tombstone) on an event topic") == "other"


def test_lag_rises_while_stuck_and_revoked_partitions_stop_reporting() -> None:
    from services.common.consumer import BatchConsumer, Subscription
    from services.common.metrics import KernelMetrics, new_registry

    registry = new_registry()
    highwaters = {("shop.orders", 0): 100, ("shop.orders", 1): 50}
    consumer = BatchConsumer(
        service="loyalty",
        subscription=Subscription("loyalty.orders", ("shop.orders",), handle=None),  # type: ignore[arg-type]
        pool=None,  # type: ignore[arg-type]
        producer=None,  # type: ignore[arg-type]
        contract=None,  # type: ignore[arg-type]
        metrics=KernelMetrics.create(registry),
        highwater=lambda t, p: highwaters.get((t, p)),
    )
    consumer.positions = {("shop.orders", 0): 89, ("shop.orders", 1): 49}

    def lag(partition: str) -> float | None:
        return registry.get_sample_value(
            "retention_consumer_lag", {"service": "loyalty", "topic": "shop.orders", "partition": partition}
        )

    consumer.refresh_lag({("shop.orders", 0), ("shop.orders", 1)})
    assert (lag("0"), lag("1")) == (10, 0)
    highwaters[("shop.orders", 0)] = 500  # new messages, no batch applied: the consumer is stuck
    consumer.refresh_lag({("shop.orders", 0)})  # partition 1 went to another worker
    assert (lag("0"), lag("1")) == (410, None)
    assert ("shop.orders", 1) not in consumer.positions


async def test_worker_consumers_fetch_with_the_configured_wait(tmp_path) -> None:
    """faust hard-codes a 1.5 s fetch wait; the dev broker holds fetches that long, so the kernel bounds it."""
    from services.common.streams import make_faust_app

    for wait_ms in (70, 250):  # applied again with a new value, never wrapped twice
        settings = Settings(faust_data_dir=str(tmp_path), kafka_fetch_max_wait_ms=wait_ms)
        app = make_faust_app("probe", settings)
        consumer = app.consumer._thread._create_worker_consumer(app.transport)
        assert consumer._fetch_max_wait_ms == wait_ms
        await consumer.stop()  # never started: releases its client


def test_a_consumers_own_batch_shape_applies_until_an_operator_sets_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.common.consumer import Subscription

    async def handle(conn, events):  # never called
        return []

    own = Subscription("s.profiles", ("shop.orders",), handle, batch_max_events=1_000, batch_lanes=4)
    platform = Subscription("s.orders", ("shop.orders",), handle)
    monkeypatch.delenv("RETENTION_BATCH_MAX_EVENTS", raising=False)
    monkeypatch.delenv("RETENTION_BATCH_LANES", raising=False)
    assert (own.batch_limit(Settings()), platform.batch_limit(Settings())) == (1_000, 500)
    assert (own.lane_count(Settings()), platform.lane_count(Settings())) == (4, 2)
    monkeypatch.setenv("RETENTION_BATCH_MAX_EVENTS", "200")
    monkeypatch.setenv("RETENTION_BATCH_LANES", "1")
    assert (own.batch_limit(Settings()), platform.batch_limit(Settings())) == (200, 200)
    assert (own.lane_count(Settings()), platform.lane_count(Settings())) == (1, 1)
