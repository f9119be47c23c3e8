"""Runs the platform's processes as supervised children: prefixed colour logs, restart with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

COLOURS = ("\033[36m", "\033[35m", "\033[33m", "\033[32m", "\033[34m", "\033[91m", "\033[96m")
RESET = "\033[0m"
#: A child that stayed up this long is healthy again: its next crash restarts without delay.
HEALTHY_AFTER_S = 30.0
MAX_BACKOFF_S = 30.0


@dataclass
class ChildSpec:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class ChildState:
    spec: ChildSpec
    colour: str
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    task: asyncio.Task[None] | None = None


def backoff_delay(consecutive_crashes: int) -> float:
    """0.5 s, 1 s, 2 s … capped, so a crash loop neither spins nor stalls recovery for long."""
    return min(MAX_BACKOFF_S, 0.5 * 2 ** max(0, consecutive_crashes - 1))


class Supervisor:
    def __init__(
        self, *, state_file: Path | None = None, out: Callable[[str], None] | None = None, colour: bool = True
    ) -> None:
        self.children: dict[str, ChildState] = {}
        self.state_file = state_file
        self.stopping = False
        self.colour = colour and sys.stdout.isatty()
        self._out = out or (lambda line: print(line, flush=True))

    def say(self, name: str, line: str, colour: str = "") -> None:
        prefix = f"{name:>13} | "
        self._out(f"{colour}{prefix}{RESET}{line}" if self.colour and colour else f"{prefix}{line}")

    def start(self, spec: ChildSpec) -> None:
        state = ChildState(spec, COLOURS[len(self.children) % len(COLOURS)])
        self.children[spec.name] = state
        state.task = asyncio.create_task(self._keep_running(state), name=f"supervise-{spec.name}")

    def pids(self) -> dict[str, int]:
        return {name: s.process.pid for name, s in self.children.items() if s.process and s.process.returncode is None}

    def _write_state(self) -> None:
        if self.state_file is None:
            return
        state = {
            name: {"pid": s.process.pid if s.process else None, "restarts": s.restarts}
            for name, s in self.children.items()
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.state_file)

    async def _keep_running(self, state: ChildState) -> None:
        consecutive = 0
        while not self.stopping:
            env = {**os.environ, **state.spec.env}
            state.process = await asyncio.create_subprocess_exec(
                *state.spec.argv,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # Ctrl+C reaches the supervisor only; it stops children in order
            )
            self._write_state()
            started = time.monotonic()
            assert state.process.stdout is not None
            async for raw in state.process.stdout:
                self.say(state.spec.name, raw.decode(errors="replace").rstrip(), state.colour)
            code = await state.process.wait()
            if self.stopping:
                break
            consecutive = 1 if time.monotonic() - started > HEALTHY_AFTER_S else consecutive + 1
            delay = backoff_delay(consecutive)
            state.restarts += 1
            self.say(
                state.spec.name, f"exited with code {code}; restart #{state.restarts} in {delay:.1f}s", "\033[1;31m"
            )
            await asyncio.sleep(delay)

    async def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM every child (reverse start order), then SIGKILL what has not exited in time."""
        self.stopping = True
        for state in reversed(list(self.children.values())):
            if state.process and state.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    state.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for state in self.children.values():
            if state.process is None:
                continue
            try:
                await asyncio.wait_for(state.process.wait(), max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                self.say(state.spec.name, "did not stop in time; killing", "\033[1;31m")
                with contextlib.suppress(ProcessLookupError):
                    state.process.kill()
                await state.process.wait()
        for state in self.children.values():
            if state.task:
                state.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await state.task
