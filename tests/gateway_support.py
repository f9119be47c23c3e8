"""The gateway and services behind real HTTP for the gateway's integration tests (shared by their modules)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from services.common.http import install_problem_handlers
from services.common.service_app import Runtime, ServiceSpec, build_service_app
from services.common.settings import Settings
from services.gateway.adapters.merchants import create_key
from services.gateway.bootstrap import SPEC as GATEWAY
from tests.support import eventually

ADMIN = "integration-admin-token-0123456789"
PROBLEM = "application/problem+json"


@dataclass
class Gateway:
    http: httpx.AsyncClient
    runtime: Runtime

    async def merchant(self) -> tuple[str, dict[str, str]]:
        """A new merchant and the auth header of its first key (default scopes)."""
        merchant_id = f"m-{uuid.uuid4().hex[:10]}"
        created = await self.http.post(
            "/admin/v1/merchants",
            headers={"Authorization": f"Bearer {ADMIN}"},
            json={"merchant_id": merchant_id, "name": "Kaffeerösterei"},
        )
        assert created.status_code == 201, created.text
        return merchant_id, {"Authorization": f"Bearer {created.json()['api_key']}"}

    async def key(self, merchant_id: str, *scopes: str) -> dict[str, str]:
        token = await create_key(self.runtime.pool, merchant_id, scopes=scopes, label="test")
        return {"Authorization": f"Bearer {token}"}


@contextlib.asynccontextmanager
async def running_gateway(infra: Any, **settings: Any) -> AsyncIterator[Gateway]:
    """The whole gateway app in-process (its lifespan run) with test settings; `settings` names the services."""
    app = build_service_app(
        GATEWAY,
        Settings(
            KAFKA_BOOTSTRAP_SERVERS=infra.kafka, DATABASE_URL=infra.database_url, admin_token=ADMIN, env="test",
            **settings,
        ),
    )  # fmt: skip
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
            yield Gateway(http, app.state.runtime)


@contextlib.asynccontextmanager
async def serving(spec: ServiceSpec, runtime: Runtime) -> AsyncIterator[str]:
    """A service's own routers (as its bootstrap lists them) behind a real HTTP server; yields its base URL."""
    app = FastAPI()
    install_problem_handlers(app)
    for router in spec.routers(runtime):
        app.include_router(router)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: server.started, timeout_s=10, interval_s=0.02)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()
