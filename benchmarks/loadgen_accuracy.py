"""How exactly does ``faastrain-loadgen`` keep a rate, and how high can it go?

Sends load at fixed target rates to a local HTTP server that counts the requests it receives
per unix second, and compares those counts with the target:

* accuracy at 10, 100 and 1,000 req/s and at the highest rate sustained: the error of each
  second and of each 10-second interval, as a percentage of the target;
* the highest rate sustained, by one Locust process and by ``--workers 2``: a staircase of
  rates, each held a few seconds; a step is sustained when the server received at least 98%
  of its target (after its first second).

The receiving server is a minimal HTTP/1.1 keep-alive server on asyncio (one process) that
answers each request with a fixed 200 response. It shares the machine's CPUs with the
generator, so on a small machine the capacity figures are a lower bound. Arrivals are
``even`` so the figures show the generator's error, not the Poisson scatter of a schedule.

    python benchmarks/loadgen_accuracy.py            # full run, about 4 minutes on 2 cores
    python benchmarks/loadgen_accuracy.py --quick    # shorter runs
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass

SUSTAINED = 0.98  # share of a step's target the server must receive, each second on average
_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


class _Counting(asyncio.Protocol):
    """Parses pipelined HTTP/1.1 requests just enough to count and answer them."""

    counts: collections.Counter[int] = collections.Counter()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].lower()
            length = 0
            at = head.find(b"content-length:")
            if at >= 0:
                line_end = head.find(b"\r\n", at)
                length = int(head[at + 15 : line_end if line_end >= 0 else len(head)])
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            first_line = head[: head.find(b"\r\n")] if b"\r\n" in head else head
            self.buffer = self.buffer[end:]
            if b" /__counts" in first_line:
                body = json.dumps(sorted(self.counts.items())).encode()
                self.counts.clear()
                self.transport.write(  # type: ignore[attr-defined]
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                continue
            self.counts[int(time.time())] += 1
            self.transport.write(_RESPONSE)  # type: ignore[attr-defined]


def serve(port: int) -> None:
    """Run the counting server on 127.0.0.1:``port`` until killed."""

    async def run() -> None:
        server = await asyncio.get_running_loop().create_server(_Counting, "127.0.0.1", port, backlog=4096)
        async with server:
            await server.serve_forever()

    asyncio.run(run())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _take_counts(port: int) -> dict[int, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__counts", timeout=10) as r:
        return {int(t): int(n) for t, n in json.loads(r.read())}


@dataclass
class Run:
    t0: int
    lines: list[dict]
    received: dict[int, int]

    def received_at(self, k: int) -> int:
        return self.received.get(self.t0 + k, 0)


def run_load(port: int, profile: str, duration: int, workers: int = 0) -> Run:
    """One generator run; returns its start second, its lines and the server's counts."""
    _take_counts(port)  # reset
    cmd = [sys.executable, "-m", "loadgen", "--url", f"http://127.0.0.1:{port}/function/bench",
           "--profile", profile, "--duration", str(duration), "--arrivals", "even", "--timeout", "5",
           "--no-view"]  # fmt: skip
    if workers:
        cmd += ["--workers", str(workers)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, stdin=subprocess.DEVNULL)
    if out.returncode != 0:
        raise SystemExit(f"load generator failed ({out.returncode}): {out.stderr[-2000:]}")
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    t0 = next(line["t0"] for line in lines if line["event"] == "start")
    time.sleep(0.5)
    return Run(t0, lines, _take_counts(port))


def accuracy(port: int, rate: float, duration: int, workers: int = 0) -> dict:
    """Per-second and per-10-second error of the received counts against ``rate``."""
    run = run_load(port, f"constant:rate={rate:g}", duration, workers)
    got = [run.received_at(k) for k in range(duration)]
    per_second = [100.0 * (g - rate) / rate for g in got]
    tens = [sum(got[i : i + 10]) for i in range(0, duration - duration % 10, 10)]
    per_ten = [100.0 * (g - 10 * rate) / (10 * rate) for g in tens]
    return {
        "rate": rate,
        "workers": workers or 1,
        "seconds": duration,
        "received": sum(got),
        "per_s_mean_abs_pct": sum(map(abs, per_second)) / len(per_second),
        "per_s_max_abs_pct": max(map(abs, per_second)),
        "per_10s_max_abs_pct": max(map(abs, per_ten)) if per_ten else float("nan"),
    }


def max_sustained(port: int, rates: list[int], hold: int, workers: int = 0) -> tuple[int, list[tuple[int, float]]]:
    """The highest step of a staircase whose rate the server received (>= SUSTAINED)."""
    profile = f"steps:rates={'/'.join(map(str, rates))},hold={hold},loop=0"
    run = run_load(port, profile, hold * len(rates), workers)
    steps = []
    best = 0
    failed = False
    for i, rate in enumerate(rates):
        seconds = range(i * hold + 1, (i + 1) * hold)  # skip each step's first second
        got = sum(run.received_at(k) for k in seconds) / len(seconds)
        steps.append((rate, got))
        # The highest step below the first one missed (a later step can catch up on the
        # backlog of a missed one and look sustained).
        failed = failed or got < SUSTAINED * rate
        if not failed:
            best = rate
    return best, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="shorter runs (10 s per rate)")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    port = _free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                _take_counts(port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        seconds = 10 if args.quick else 20
        hold = 7
        staircase = [2000, 4000, 6000, 7000, 8000, 9000, 10000, 11000, 12000]
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} before the run")
        print(f"maximum sustained rate (server received >= {SUSTAINED:.0%} of the target, {hold} s steps)")
        best = {}
        for workers in (0, 2):
            top, steps = max_sustained(port, staircase, hold, workers)
            best[workers] = top
            shown = "  ".join(f"{r}:{g:.0f}" for r, g in steps)
            print(f"  workers={workers or 1}: {top} req/s   (target:received per s  {shown})")
        print(f"\naccuracy (error of received vs target, % of target; {seconds} s per rate)")
        print(f"  {'rate':>7} {'workers':>7} {'received':>9} {'mean|1s|':>9} {'max|1s|':>8} {'max|10s|':>9}")
        top = max(best.values())
        cases = [(10, 0), (100, 0), (1000, 0), (top, 2 if best[2] >= best[0] else 0)]
        for rate, workers in cases:
            r = accuracy(port, rate, seconds, workers)
            print(
                f"  {r['rate']:>7g} {r['workers']:>7} {r['received']:>9} {r['per_s_mean_abs_pct']:>8.2f}% "
                f"{r['per_s_max_abs_pct']:>7.2f}% {r['per_10s_max_abs_pct']:>8.2f}%"
            )
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
