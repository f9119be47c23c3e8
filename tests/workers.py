"""Service processes for end-to-end tests: started, probed, killed like in production."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from services.platform.infra import free_port
from tests.harness import Infra
from tests.support import eventually

REPO = Path(__file__).resolve().parents[1]


class ServiceProcess:
    """`retention serve <service>` as a real process against the session's broker and PostgreSQL."""

    def __init__(
        self,
        infra: Infra,
        log_dir: Path,
        name: str,
        engine: str = "aiokafka",
        *,
        service: str = "loyalty",
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.log_path = log_dir / f"{name}.log"
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
            "DATABASE_URL": infra.database_url,
            "RETENTION_HTTP_PORT": str(self.port),
            "RETENTION_LOG_FORMAT": "json",
            "RETENTION_FAUST_DATA_DIR": str(log_dir / f"faust-{name}"),
            "RETENTION_CONSUMER_ENGINE": engine,
            **(env or {}),
        }
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.platform.cli", "serve", service],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def ready(self) -> None:
        async def probe() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited: {self.log_path.read_text()[-3000:]}")
            try:
                async with httpx.AsyncClient(timeout=2) as http:
                    return (await http.get(f"http://127.0.0.1:{self.port}/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(probe, timeout_s=90, interval_s=0.3)

    async def metrics(self, prefix: str) -> list[str]:
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                text = (await http.get(f"http://127.0.0.1:{self.port}/metrics")).text
        except httpx.TransportError:
            return []
        return [line for line in text.splitlines() if line.startswith(prefix)]

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
