"""Session-wide real infrastructure and per-test isolation (own schema, own merchant id)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from services.common.contract import load_contract
from services.common.db import create_pool
from services.common.kafka import create_topics
from services.common.metrics import KernelMetrics, new_registry
from services.common.settings import Settings
from tests.harness import Infra, start_infra


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    with start_infra(tmp_path_factory.mktemp("infra")) as running:
        yield running


@pytest.fixture(scope="session")
async def topics(infra: Infra) -> None:
    await create_topics(infra.kafka, load_contract().topics_to_create())


@pytest.fixture
def settings(infra: Infra) -> Settings:
    return Settings(KAFKA_BOOTSTRAP_SERVERS=infra.kafka, DATABASE_URL=infra.database_url, env="test")


@pytest.fixture
def merchant_id() -> str:
    """A merchant of its own per test: tests share topics but never each other's data."""
    return f"m-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def schema_pool(infra: Infra) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    """A fresh, empty schema per test, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    pool = await create_pool(infra.database_url, schema)
    try:
        yield schema, pool
    finally:
        await pool.close()
        conn = await asyncpg.connect(infra.database_url)
        try:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        finally:
            await conn.close()


@pytest.fixture
async def producer(infra: Infra, topics: None) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=infra.kafka, acks="all", linger_ms=5)
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


@pytest.fixture
def kernel_metrics() -> KernelMetrics:
    return KernelMetrics.create(new_registry())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test declares its level by folder, so `-m unit` etc. select without extra decoration."""
    for item in items:
        for level in ("unit", "integration", "e2e"):
            if f"{os.sep}{level}{os.sep}" in str(item.fspath):
                item.add_marker(getattr(pytest.mark, level))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Services under test point the root logger at pytest's captured stdout; detach before it closes."""
    import logging

    logging.getLogger().handlers.clear()
