"""The asyncio controller of the load generator, against a real generator process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from faastrain_async.clients.loadgen import (
    LoadGenerator,
    LoadGenSettings,
    LoadSecond,
    LoadStarted,
    parse_event,
)
from faastrain_async.backends.kubernetes.load import GatewayLoad
from faastrain_async.backends.kubernetes.settings import KubernetesSettings
from faastrain_async.errors import ConfigError, LoadGeneratorError

from loadgen_fixtures import TRACE, CountingServer, server  # noqa: F401  (fixture)


async def _group_gone(pgid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        await asyncio.sleep(0.1)
    return False


def test_the_controller_never_imports_locust() -> None:
    code = "import sys, faastrain_async.clients.loadgen; print('locust' in sys.modules or 'gevent' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"url": "localhost:8080"}, "url='localhost:8080'"),
        ({"profile": "sine:period=10"}, "profile='sine:period=10'"),
        ({"profile": "trace:path=missing.json"}, "trace file not found"),
        ({"duration": -3}, "duration=-3"),
        ({"seed": -1}, "seed=-1"),
        ({"arrivals": "burst"}, "arrivals='burst'"),
        ({"timeout": 0}, "timeout=0"),
        ({"workers": -1}, "workers=-1"),
        ({"expect_status": 42}, "expect_status=42"),
    ],
)
def test_bad_settings_are_named(kwargs: dict, named: str) -> None:
    base = {"url": "http://127.0.0.1:8080/function/echo", "profile": "constant:rate=5"}
    with pytest.raises(ConfigError, match=named.replace("(", r"\(")):
        LoadGenSettings(**{**base, **kwargs})


def test_settings_become_the_command_line() -> None:
    spec = f"trace:path={TRACE},compress=30"
    settings = LoadGenSettings(url="http://127.0.0.1:1/function/f", profile=spec, duration=5, workers=2)
    cmd = settings.command("python")
    assert cmd[:3] == ["python", "-m", "loadgen"]
    assert cmd[cmd.index("--profile") + 1] == spec
    assert cmd[cmd.index("--duration") + 1] == "5"
    assert cmd[cmd.index("--workers") + 1] == "2"
    assert "--no-view" in cmd  # JSON lines on stdout, even if it were a terminal


def test_lines_parse_as_typed_events() -> None:
    event = parse_event(b'{"event":"end","t":12.5,"sent":10,"failed":1}')
    assert (event.sent, event.failed) == (10, 1)
    with pytest.raises(LoadGeneratorError, match="unreadable"):
        parse_event("not json")
    with pytest.raises(LoadGeneratorError, match="unreadable"):
        parse_event('{"event":"second","t":1}')


async def test_start_read_report_stop(server: CountingServer) -> None:
    settings = LoadGenSettings(url=f"{server.url}/ok", profile="constant:rate=40", arrivals="even", timeout=2.0)
    load = LoadGenerator(settings)
    try:
        await load.start()
        await load.start()  # idempotent
        assert isinstance(load.started, LoadStarted) and load.started.workers == 1
        watcher = asyncio.create_task(load.watch(), name="loadgen-watch")
        first = await load.next_second(timeout=10)
        while first.elapsed < 2:
            first = await load.next_second(timeout=5)
        assert isinstance(first, LoadSecond)
        assert load.achieved_rps == 40.0
        seconds = load.seconds
        report = load.report(seconds[0].t, seconds[-1].t + 1)
        assert report.intended_rps == pytest.approx(40.0)
        assert report.achieved_rps == pytest.approx(40.0, abs=2)
        with pytest.raises(LoadGeneratorError, match="no load statistics"):
            load.report(0.0, 10.0)
        assert not watcher.done()
    finally:
        await load.stop()
    await asyncio.wait_for(watcher, 1.0)  # returns once stopped
    # SIGTERM let it finish cleanly: status 0 and its closing line.
    assert load.returncode == 0
    assert load.ended is not None and load.ended.sent >= sum(s.achieved_rps for s in load.seconds)
    await load.stop()  # idempotent
    # Every second the generator reported arrived at the server, and nothing after it stopped.
    assert sum(server.per_second.get(s.t, 0) for s in load.seconds) == sum(s.achieved_rps for s in load.seconds)


async def test_a_killed_generator_is_reported_within_a_second(server: CountingServer) -> None:
    load = LoadGenerator(LoadGenSettings(url=f"{server.url}/ok", profile="constant:rate=20", workers=2))
    try:
        await load.start()
        watcher = asyncio.create_task(load.watch(), name="loadgen-watch")
        await load.next_second(timeout=15)
        assert load.pid is not None
        killed_at = time.monotonic()
        os.kill(load.pid, signal.SIGKILL)
        with pytest.raises(LoadGeneratorError, match="killed by SIGKILL"):
            await asyncio.wait_for(watcher, 1.0)
        assert time.monotonic() - killed_at < 1.0
        # The workers of the dead master went with it (once reaped by their new parent).
        assert await _group_gone(load.pid, within=3.0)
    finally:
        await load.stop()


async def test_an_unreachable_url_fails_start_with_the_reason() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    load = LoadGenerator(LoadGenSettings(url=f"http://127.0.0.1:{port}/", profile="constant:rate=5"))
    with pytest.raises(LoadGeneratorError, match=r"exited with status 2: .*unreachable.*Connection refused"):
        await load.start()
    await load.stop()


async def test_the_envs_load_uses_the_load_method_and_body(server: CountingServer) -> None:
    settings = KubernetesSettings(function="echo", gateway_url=server.url, load_method="PUT", load_body="ping")
    load = GatewayLoad(settings, "constant:rate=20")
    try:
        await load.start()
        watcher = asyncio.create_task(load.watch(), name="loadgen-watch")
        assert load.generator is not None
        await load.generator.next_second(timeout=10)
    finally:
        await load.stop()
    await asyncio.wait_for(watcher, 5.0)
    assert set(server.requests) == {("PUT", "/function/echo", b"ping")}
