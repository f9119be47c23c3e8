"""`retention up`: infrastructure, topics, migrations, supervised services, demo merchant, simulated shop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from services.common.contract import load_contract
from services.common.db import create_pool
from services.common.kafka import create_topics
from services.common.service_app import prepare_database
from services.common.settings import Settings
from services.gateway.adapters.merchants import create_key, create_merchant
from services.platform.catalogue import SERVICES, START_ORDER
from services.platform.infra import EmbeddedBroker, EmbeddedPostgres
from services.platform.supervisor import ChildSpec, Supervisor

DEMO_MERCHANT = "demo-shop"


@dataclass(frozen=True)
class UpOptions:
    data_dir: Path
    base_port: int = 8000
    kafka_port: int = 9092
    smtp_port: int = 1025
    simulate: bool = True
    events_per_second: float = 20.0
    ready_file: Path | None = None
    log_format: str = "console"


def service_port(options: UpOptions, name: str) -> int:
    return options.base_port + (SERVICES[name].default_port - 8000)


async def migrate_all(settings: Settings) -> None:
    for name in START_ORDER:
        pool = await prepare_database(SERVICES[name].load_spec(), settings)
        await pool.close()


async def ensure_demo_merchant(database_url: str) -> str:
    pool = await create_pool(database_url, "gateway")
    try:
        await create_merchant(pool, DEMO_MERCHANT, "Demo-Shop (Kaffeerösterei)")
        # A fresh key per run: keys are shown once and only their hash is stored.
        return await create_key(pool, DEMO_MERCHANT, environment="test", label="retention up")
    finally:
        await pool.close()


async def wait_ready(urls: dict[str, str], timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    pending = dict(urls)
    async with httpx.AsyncClient(timeout=2) as http:
        while pending:
            for name, url in list(pending.items()):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{url}/readyz")).status_code == 200:
                        del pending[name]
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"not ready after {timeout_s:.0f}s: {', '.join(pending)}")
            await asyncio.sleep(0.3)


def child_env(options: UpOptions, name: str, kafka: str, database_url: str) -> dict[str, str]:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "DATABASE_URL": database_url,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(options.smtp_port),
        "RETENTION_HTTP_PORT": str(service_port(options, name)),
        "RETENTION_LOG_FORMAT": options.log_format,
        "RETENTION_FAUST_DATA_DIR": str(options.data_dir.resolve() / "faust"),
        "PYTHONUNBUFFERED": "1",
    }
    for other in SERVICES:
        if other != "gateway":
            env[f"RETENTION_{other.upper()}_URL"] = f"http://127.0.0.1:{service_port(options, other)}"
    # Links customers open (tracking pages) point at the gateway, unless an operator set the public address.
    env["RETENTION_PUBLIC_BASE_URL"] = os.environ.get(
        "RETENTION_PUBLIC_BASE_URL", f"http://127.0.0.1:{service_port(options, 'gateway')}"
    )
    return env


async def run_up(options: UpOptions) -> int:
    data_dir = options.data_dir.resolve()
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    mail_dir = data_dir / "mail"
    broker = postgres = None
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    database_url = os.environ.get("DATABASE_URL")
    supervisor = Supervisor(state_file=data_dir / "children.json")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if not kafka:
            broker = EmbeddedBroker(options.kafka_port, data_dir / "logs" / "broker.log")
            broker.start()
            kafka = broker.bootstrap_servers
            supervisor.say("platform", f"Kafka-protocol broker (Tansu, in memory) on {kafka}")
        if not database_url:
            postgres = EmbeddedPostgres(data_dir / "pg")
            database_url = await asyncio.to_thread(postgres.start)
            supervisor.say("platform", f"PostgreSQL (embedded) with data in {data_dir / 'pg'}")
        settings = Settings(KAFKA_BOOTSTRAP_SERVERS=kafka, DATABASE_URL=database_url)
        created = await create_topics(kafka, load_contract().topics_to_create())
        supervisor.say("platform", f"topics ready ({len(created)} created now)")
        await migrate_all(settings)
        supervisor.say("platform", "migrations applied")

        python = sys.executable
        supervisor.start(
            ChildSpec(
                "smtp-sink",
                [
                    python,
                    "-m",
                    "services.platform.cli",
                    "smtp-sink",
                    "--port",
                    str(options.smtp_port),
                    "--folder",
                    str(mail_dir),
                ],
            )
        )
        urls = {}
        for name in START_ORDER:
            supervisor.start(
                ChildSpec(
                    name,
                    [python, "-m", "services.platform.cli", "serve", name],
                    child_env(options, name, kafka, database_url),
                )
            )
            urls[name] = f"http://127.0.0.1:{service_port(options, name)}"
        ready = asyncio.create_task(wait_ready(urls))
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({ready, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            ready.cancel()
            return 130
        stopped.cancel()
        ready.result()
        api_key = await ensure_demo_merchant(database_url)
        if options.simulate:
            from services.platform.demo_segments import ensure_demo_segments

            await ensure_demo_segments(urls["segments"], DEMO_MERCHANT)
        gateway = urls["gateway"]
        banner = [
            "ready",
            f"  merchant:       {DEMO_MERCHANT}",
            f"  API key:        {api_key}   (shown once)",
            f"  API docs:       {gateway}/docs   (AsyncAPI: {gateway}/asyncapi.yaml)",
            "  metrics:        " + ", ".join(f"{u}/metrics" for u in urls.values()),
            f"  captured mail:  {mail_dir}",
            f"  simulated shop: {'on, ' + str(options.events_per_second) + ' events/s' if options.simulate else 'off'}",
            "  stop with Ctrl+C",
        ]
        for line in banner:
            supervisor.say("platform", line)
        if options.ready_file:
            options.ready_file.write_text(
                json.dumps(
                    {
                        "merchant_id": DEMO_MERCHANT,
                        "api_key": api_key,
                        "urls": urls,
                        "mail_dir": str(mail_dir),
                        "kafka": kafka,
                        "database_url": database_url,
                        "children_file": str(data_dir / "children.json"),
                    }
                )
            )
        simulation = None
        if options.simulate:
            from services.platform.simulator import run_simulated_shop

            simulation = asyncio.create_task(
                run_simulated_shop(
                    gateway,
                    api_key,
                    events_per_second=options.events_per_second,
                    stop=stop,
                    log=lambda line: supervisor.say("shop", line),
                )
            )
        await stop.wait()
        if simulation:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(simulation, 10)
        return 0
    finally:
        supervisor.say("platform", "stopping")
        await supervisor.stop()
        if broker:
            broker.stop()
        if postgres:
            await asyncio.to_thread(postgres.stop)
        supervisor.say("platform", "stopped")
