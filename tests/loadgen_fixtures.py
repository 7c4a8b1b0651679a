"""Shared parts of the load generator tests: a counting HTTP server and a CLI runner."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
TRACE = Path(__file__).parents[1] / "faastrain_async" / "evaluation" / "data" / "azure-functions-30s.json"
RUN_TIMEOUT_S = 60.0


@dataclass
class CountingServer:
    """A local HTTP server that counts requests per unix second of arrival.

    ``/ok`` answers 200, ``/fail`` 500, ``/slow`` answers 200 after ``slow_s`` seconds.
    """

    slow_s: float = 2.0
    per_second: collections.Counter[int] = field(default_factory=collections.Counter)
    #: (method, path, body) of each request.
    requests: collections.Counter[tuple[str, str, bytes]] = field(default_factory=collections.Counter)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        self.per_second[int(time.time())] += 1
        self.requests[(request.method, request.path, await request.read())] += 1
        if request.path == "/fail":
            return web.Response(status=500, text="failed on purpose")
        if request.path == "/slow":
            await asyncio.sleep(self.slow_s)
        return web.Response(text="ok")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def counts(self, t0: int, seconds: int) -> list[int]:
        """Requests that arrived in each second from ``t0``."""
        return [self.per_second.get(t0 + k, 0) for k in range(seconds)]


@pytest.fixture
async def server() -> AsyncIterator[CountingServer]:
    srv = CountingServer()
    await srv.start()
    try:
        yield srv
    finally:
        await srv.close()


@dataclass
class CliResult:
    returncode: int
    lines: list[dict[str, Any]]
    stderr: str

    @property
    def start(self) -> dict[str, Any]:
        return next(line for line in self.lines if line["event"] == "start")

    @property
    def seconds(self) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["event"] == "second"]

    @property
    def end(self) -> dict[str, Any]:
        return next(line for line in self.lines if line["event"] == "end")


async def run_loadgen(*args: str, timeout: float = RUN_TIMEOUT_S, cwd: Path | None = None) -> CliResult:
    """Run ``python -m loadgen ARGS`` to the end (killing it after ``timeout``)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "loadgen",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        cwd=cwd,
        # The project importable from any working directory, installed or not.
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))},
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)  # its session: the master and any workers
            await proc.wait()
    text = out.decode()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert proc.returncode is not None
    return CliResult(proc.returncode, lines, err.decode())
