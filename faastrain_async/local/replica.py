"""A replica: one OS process serving one function over HTTP, like OpenFaaS's watchdog.

Run by the pod runner as ``python -m faastrain_async.local.replica --fd N --spec JSON
--parent PID``; it serves on the listening socket it inherits as file descriptor N:

- ``GET /_/health``: 200 once started and past the cold start, 503 before, while draining,
  or while a readiness fault is set;
- ``POST /_/readiness`` with ``{"failing": true|false}``: set or clear a readiness fault;
- any other path: call the function; 429 when ``max_inflight`` calls already run, 504 after
  ``timeout``, 500 if the handler raised. ``X-Duration-Seconds`` carries the call's time.

It exits when its parent dies (PR_SET_PDEATHSIG from the runner, and a parent-pid check
here in case the parent died before that took effect) and drains on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
import time
import traceback

from aiohttp import web

from faastrain_async.local.functions import Handler, build_handler, call_handler
from loadgen.lifeline import ORPHANED_EXIT, PARENT_CHECK_PERIOD, orphaned


class Replica:
    """State of one replica process: its handler, in-flight calls and health."""

    def __init__(self, handler: Handler, *, cold_start: float, max_inflight: int, timeout: float) -> None:
        self.handler = handler
        self.ready_at = time.monotonic() + cold_start
        self.max_inflight = max_inflight
        self.timeout = timeout
        self.inflight = 0
        self.readiness_failing = False
        self.draining = False

    async def health(self, request: web.Request) -> web.Response:
        if self.draining:
            return web.Response(status=503, text="draining")
        if self.readiness_failing:
            return web.Response(status=503, text="readiness fault set")
        if time.monotonic() < self.ready_at:
            return web.Response(status=503, text="cold start")
        return web.Response(text="OK")

    async def set_readiness(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        failing = body.get("failing") if isinstance(body, dict) else None
        if not isinstance(failing, bool):
            return web.Response(status=400, text=f'body must be {{"failing": true|false}}, got {body!r}')
        self.readiness_failing = failing
        return web.json_response({"failing": failing})

    async def invoke(self, request: web.Request) -> web.Response:
        if self.inflight >= self.max_inflight:
            return web.Response(status=429, text=f"concurrent request limit {self.max_inflight} reached")
        body = await request.read()
        self.inflight += 1
        started = time.perf_counter()
        try:
            result, content_type = await asyncio.wait_for(call_handler(self.handler, body), self.timeout)
        except TimeoutError:
            return web.Response(status=504, text=f"function timed out after {self.timeout}s")
        except Exception as exc:  # the function's own failure is the caller's 500, not ours
            traceback.print_exc()
            return web.Response(status=500, text=f"function failed: {exc!r}")
        finally:
            self.inflight -= 1
        duration = time.perf_counter() - started
        return web.Response(body=result, headers={"Content-Type": content_type, "X-Duration-Seconds": f"{duration:.6f}"})


async def _watch_parent(parent: int) -> None:
    while True:
        if orphaned(parent):
            # The cluster is gone, so nobody will ever stop this replica.
            os._exit(ORPHANED_EXIT)
        await asyncio.sleep(PARENT_CHECK_PERIOD)


async def serve(sock: socket.socket, replica: Replica, parent: int, grace: float) -> None:
    """Serve until SIGTERM (or SIGINT), then stop accepting and let in-flight calls finish."""
    app = web.Application()
    app.router.add_get("/_/health", replica.health)
    app.router.add_post("/_/readiness", replica.set_readiness)
    app.router.add_route("*", "/{tail:.*}", replica.invoke)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=grace)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    watcher = asyncio.create_task(_watch_parent(parent), name="parent-check")
    try:
        await stop.wait()
        replica.draining = True
    finally:
        watcher.cancel()
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    """Entry point of a replica process."""
    parser = argparse.ArgumentParser(description="faastrain local replica (started by the local cluster)")
    parser.add_argument("--fd", type=int, required=True, help="inherited listening socket")
    parser.add_argument("--spec", required=True, help="function settings as JSON")
    parser.add_argument("--parent", type=int, required=True, help="pid of the cluster process")
    args = parser.parse_args(argv)
    if orphaned(args.parent):
        print("parent already gone; not starting", file=sys.stderr)
        return ORPHANED_EXIT
    spec = json.loads(args.spec)
    handler = build_handler(
        spec["kind"], matmul_size=tuple(spec["matmul_size"]), sleep_seconds=tuple(spec["sleep_seconds"])
    )
    replica = Replica(handler, cold_start=spec["cold_start"], max_inflight=spec["max_inflight"], timeout=spec["timeout"])
    sock = socket.socket(fileno=args.fd)
    asyncio.run(serve(sock, replica, args.parent, spec["grace"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
