"""The `retention` command: run the platform, one service, or one-shot operations."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer

from services.platform.mail_cli import mail_app
from services.platform.merchant_cli import register as register_merchant_commands

app = typer.Typer(help="Customer-retention platform for online shops.", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topics from the event contract.")
merchant_app = typer.Typer(help="Merchants and API keys.")
contract_app = typer.Typer(help="The event contract.")
app.add_typer(topics_app, name="topics")
app.add_typer(merchant_app, name="merchant")
app.add_typer(contract_app, name="contract")
app.add_typer(mail_app, name="mail")
register_merchant_commands(merchant_app)


@app.command()
def up(
    data_dir: Annotated[Path, typer.Option(help="Where PostgreSQL data, logs and captured mail live.")] = Path(
        ".retention"
    ),
    base_port: Annotated[int, typer.Option(help="Gateway port; services use the next four.")] = 8000,
    kafka_port: Annotated[int, typer.Option(help="Port of the embedded broker.")] = 9092,
    smtp_port: Annotated[int, typer.Option(help="Port of the SMTP sink.")] = 1025,
    simulate: Annotated[bool, typer.Option(help="Feed a simulated shop.")] = True,
    events_per_second: Annotated[float, typer.Option(help="Pace of the simulated shop.")] = 20.0,
    ready_file: Annotated[Path | None, typer.Option(help="Write URLs and the demo key here when ready.")] = None,
    log_format: Annotated[str, typer.Option(help="console or json logs from the services.")] = "console",
) -> None:
    """Start everything (embedded broker + PostgreSQL unless KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL are set)."""
    from services.platform.up import UpOptions, run_up

    options = UpOptions(
        data_dir=data_dir,
        base_port=base_port,
        kafka_port=kafka_port,
        smtp_port=smtp_port,
        simulate=simulate,
        events_per_second=events_per_second,
        ready_file=ready_file,
        log_format=log_format,
    )
    raise typer.Exit(asyncio.run(run_up(options)))


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help="gateway, loyalty, notifications, segments or tracking")],
) -> None:
    """Run one service process (HTTP API, consumers, outbox relay) against configured Kafka and PostgreSQL."""
    import uvicorn

    from services.common.service_app import build_service_app
    from services.common.settings import Settings
    from services.platform.catalogue import SERVICES

    if service not in SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}; choose from {', '.join(SERVICES)}")
    entry = SERVICES[service]
    if "RETENTION_HTTP_PORT" not in os.environ:
        os.environ["RETENTION_HTTP_PORT"] = str(entry.default_port)
    settings = Settings()
    api = build_service_app(entry.load_spec(), settings)
    uvicorn.run(
        api,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
    )


@app.command()
def migrate() -> None:
    """Apply every service's migrations (safe to run while services start)."""
    from services.common.settings import Settings
    from services.platform.up import migrate_all

    asyncio.run(migrate_all(Settings()))
    typer.echo("migrations applied")


@topics_app.command("create")
def topics_create() -> None:
    """Create every topic and dead-letter topic of the contract with its partition count."""
    from services.common.contract import load_contract
    from services.common.kafka import create_topics
    from services.common.settings import Settings

    created = asyncio.run(create_topics(Settings().kafka_bootstrap_servers, load_contract().topics_to_create()))
    typer.echo(f"created {len(created)} topics: {', '.join(created) or '-'}")


@merchant_app.command("create")
def merchant_create(
    merchant_id: Annotated[str, typer.Argument(help="Stable id, e.g. kaffee-dortmund")],
    name: Annotated[str, typer.Option(help="Display name")],
    environment: Annotated[str, typer.Option(help="live or test key")] = "live",
) -> None:
    """Create a merchant and print its first API key (shown once)."""
    from services.common.db import create_pool
    from services.common.settings import Settings
    from services.gateway.adapters.merchants import create_key, create_merchant

    async def run() -> str:
        pool = await create_pool(Settings().database_url, "gateway")
        try:
            if not await create_merchant(pool, merchant_id, name):
                raise typer.BadParameter(f"merchant {merchant_id} exists")
            return await create_key(pool, merchant_id, environment=environment)
        finally:
            await pool.close()

    typer.echo(asyncio.run(run()))


@contract_app.command("docs")
def contract_docs(out_dir: Annotated[Path, typer.Option(help="Output folder")] = Path("docs")) -> None:
    """Regenerate docs/event-contract.md and docs/asyncapi.yaml from the contract."""
    from services.common.contract.docs import write_docs

    for path in write_docs(out_dir):
        typer.echo(f"wrote {path}")


@app.command("smtp-sink")
def smtp_sink(
    folder: Annotated[Path, typer.Option(help="Where to keep messages")] = Path(".retention/mail"),
    port: Annotated[int, typer.Option()] = 1025,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
) -> None:
    """A development SMTP server that stores each message as an .eml file."""
    from services.platform.smtp_sink import run_forever

    run_forever(folder, host, port)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
