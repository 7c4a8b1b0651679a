"""The Locust program end to end: real Locust processes against a local counting server."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import numpy as np

from loadgen.profiles import Trace, draw_profile, parse_profile
from loadgen.schedule import ArrivalSchedule

from loadgen_fixtures import TRACE, CountingServer, run_loadgen, server  # noqa: F401  (fixture)


def _close(got: list[int], want: list[int] | np.ndarray, rel: float = 0.1, floor: int = 3) -> list[str]:
    """Seconds where ``got`` strays from ``want`` by more than max(floor, rel·want)."""
    return [
        f"second {k}: got {g}, want {w}"
        for k, (g, w) in enumerate(zip(got, want))
        if abs(g - w) > max(floor, rel * w)
    ]


async def test_sine_profile_is_followed_second_by_second(server: CountingServer) -> None:
    duration = 6
    result = await run_loadgen(
        "--url", f"{server.url}/ok", "--profile", "sine:period=4,low=10,high=90",
        "--duration", str(duration), "--seed", "3", "--timeout", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    start = result.start
    # The schedule is deterministic: rebuild it from what the start line says.
    schedule = ArrivalSchedule(parse_profile(start["profile"]), seed=3, duration=duration)
    scheduled = schedule.counts(duration)
    lines = result.seconds[:duration]
    assert [line["scheduled"] for line in lines] == scheduled.tolist()
    # The sine alternates high (≈ 75/s) and low (≈ 25/s) seconds; each must be kept.
    arrived = server.counts(start["t0"], duration)
    assert _close(arrived, scheduled) == []
    assert _close([line["achieved_rps"] for line in lines], scheduled) == []
    assert sum(server.per_second.values()) == scheduled.sum() == result.end["sent"]
    assert all(line["failed"] == 0 and line["p50_ms"] is not None for line in lines)
    assert [round(line["target_rps"]) for line in lines] == [75, 75, 25, 25, 75, 75]


async def test_trace_replay_is_followed_interval_by_interval(server: CountingServer) -> None:
    # compress=30 replays each 30-s interval in 1 s; scale=3 triples its count.
    intervals = 7
    result = await run_loadgen(
        "--url", f"{server.url}/ok", "--trace", str(TRACE), "--interval", "30", "--scale", "3",
        "--compress", "30", "--duration", str(intervals), "--arrivals", "even", "--timeout", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    want = [3 * c for c in Trace.from_file(TRACE).counts[:intervals]]
    assert want[:3] == [123, 3, 45]
    arrived = server.counts(result.start["t0"], intervals)
    assert _close(arrived, want) == []
    assert sum(arrived) == sum(want)
    assert [line["target_rps"] for line in result.seconds[:intervals]] == want


async def test_a_ranged_profile_runs_what_its_seed_draws_and_says_so(server: CountingServer) -> None:
    spec = "steps:rates=10..40/50..90,hold=1,loop=0"
    result = await run_loadgen(
        "--url", f"{server.url}/ok", "--profile", spec, "--seed", "5", "--arrivals", "even", "--timeout", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    drawn = draw_profile(spec, 5)
    assert result.start["profile"] == drawn.spec != draw_profile(spec, 6).spec
    want = ArrivalSchedule(drawn, arrivals="even").counts(2)
    assert [line["scheduled"] for line in result.seconds[:2]] == want.tolist()
    assert _close(server.counts(result.start["t0"], 2), want) == []


async def test_server_errors_are_failures_by_status(server: CountingServer) -> None:
    result = await run_loadgen(
        "--url", f"{server.url}/fail", "--profile", "constant:rate=20", "--duration", "2",
        "--arrivals", "even", "--timeout", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    failures = sum((line["failures"].get("status_500", 0) for line in result.seconds), 0)
    assert failures == 40 == result.end["failed"]
    assert all(line["ok"] == 0 for line in result.seconds)


async def test_slow_answers_are_timeouts(server: CountingServer) -> None:
    server.slow_s = 2.0
    result = await run_loadgen(
        "--url", f"{server.url}/slow", "--profile", "constant:rate=10", "--duration", "2",
        "--arrivals", "even", "--timeout", "0.4",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    timeouts = sum(line["failures"].get("timeout", 0) for line in result.seconds)
    assert timeouts == 20 == result.end["failed"]
    # Open loop: slow answers do not slow the arrivals down.
    assert [line["achieved_rps"] for line in result.seconds[:2]] == [10, 10]
    latencies = [line["p50_ms"] for line in result.seconds if line["p50_ms"] is not None]
    assert latencies and all(350 <= ms < 1500 for ms in latencies)


async def test_two_workers_share_one_schedule_exactly(server: CountingServer, tmp_path: Path) -> None:
    stats = tmp_path / "stats.jsonl"
    duration = 4
    result = await run_loadgen(
        "--url", f"{server.url}/ok", "--profile", "steps:rates=40/120,hold=2,loop=0", "--arrivals", "even",
        "--duration", str(duration), "--workers", "2", "--timeout", "2", "--stats", str(stats),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.lines == []  # the lines went to the file
    lines = [json.loads(line) for line in stats.read_text().splitlines()]
    start = lines[0]
    assert start["event"] == "start" and start["workers"] == 2
    seconds = [line for line in lines if line["event"] == "second"][:duration]
    assert [line["reporting"] for line in seconds] == [2] * duration
    want = [40, 40, 120, 120]
    assert [line["scheduled"] for line in seconds] == want
    assert _close([line["achieved_rps"] for line in seconds], want) == []
    assert _close(server.counts(start["t0"], duration), want) == []
    assert sum(server.per_second.values()) == sum(want)


async def test_a_worker_joins_a_master_by_address(server: CountingServer, tmp_path: Path) -> None:
    # As on two machines: the master waits for one worker, which knows only its address
    # (it runs elsewhere, without the trace file: the plan carries the counts).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    master = asyncio.create_task(
        run_loadgen(
            "--url", f"{server.url}/ok", "--trace", str(TRACE), "--compress", "30", "--scale", "2",
            "--duration", "3", "--arrivals", "even", "--expect-workers", "1", "--master-port", port,
        )  # fmt: skip
    )
    worker = asyncio.create_task(
        run_loadgen("--worker", "--master-host", "127.0.0.1", "--master-port", port, cwd=tmp_path)
    )
    try:
        result, joined = await asyncio.wait_for(asyncio.gather(master, worker), 60)
    finally:
        for task in (master, worker):
            task.cancel()
    assert result.returncode == 0, result.stderr
    assert joined.returncode == 0 and joined.lines == [], joined.stderr
    want = [2 * c for c in Trace.from_file(TRACE).counts[:3]]
    seconds = result.seconds[:3]
    assert [line["reporting"] for line in seconds] == [1, 1, 1]
    assert [line["achieved_rps"] for line in seconds] == want
    assert sum(server.per_second.values()) == sum(want)
