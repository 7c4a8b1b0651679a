"""Per-second statistics of a run: recorded per process, merged, written as JSON lines.

Every process that sends requests keeps a :class:`Recorder`: for each whole unix second it
counts the requests sent in that second, the requests that completed in it (succeeded, or
failed by kind) and a histogram of their latencies. Once a second is over (plus a short
grace for completions still being recorded) the recorder hands it over; the
:class:`Aggregator` of the run merges the seconds of all processes and writes one line per
second. Nothing is averaged over more than the line's own second.

A line (``"event": "second"``) holds:

``t``             the unix second the line covers, ``[t, t + 1)``
``elapsed``       seconds since the start of the schedule
``target_rps``    the rate the profile asks for over that second
``scheduled``     arrivals the schedule holds for that second (Poisson noise around the target)
``achieved_rps``  requests actually sent in that second
``ok``            requests that completed in that second with the expected status
``failed``        requests that completed in that second and failed; ``failures`` by kind:
                  ``status_<code>`` (unexpected HTTP status), ``timeout``, ``connection``
                  (refused, reset, closed) or ``error`` (anything else)
``late``          requests sent more than 50 ms after their scheduled time (all users busy, or no CPU left)
``p50_ms`` …      latency percentiles of the requests completed in that second (null if none)
``users``         Locust users running; ``reporting`` processes whose counts are merged

This module has no Locust import.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

__all__ = [
    "LATE_AFTER_S",
    "Aggregator",
    "Recorder",
    "SecondCounts",
    "format_view",
    "latency_key",
    "percentile",
]

LATE_AFTER_S = 0.05
PERCENTILES = (50, 95, 99)


def latency_key(ms: float) -> float:
    """Round a latency to 3 significant digits, the resolution of the histograms."""
    if ms <= 0:
        return 0.0
    return round(ms, 2 - int(math.floor(math.log10(ms))))


def percentile(histogram: Counter[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100) of a latency histogram, or None when it is empty."""
    total = sum(histogram.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(q / 100.0 * total))
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    return max(histogram)


@dataclass
class SecondCounts:
    """What one process (or the whole run, once merged) did in one second."""

    sent: int = 0
    late: int = 0
    ok: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    latencies: Counter[float] = field(default_factory=Counter)

    def merge(self, other: SecondCounts) -> None:
        """Add ``other``'s counts to these."""
        self.sent += other.sent
        self.late += other.late
        self.ok += other.ok
        self.failures.update(other.failures)
        self.latencies.update(other.latencies)

    def to_wire(self) -> dict[str, Any]:
        """A plain dict that survives msgpack and JSON (histogram as [ms, count] pairs)."""
        return {
            "sent": self.sent,
            "late": self.late,
            "ok": self.ok,
            "failures": dict(self.failures),
            "latencies": [[ms, n] for ms, n in self.latencies.items()],
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> SecondCounts:
        """Inverse of :meth:`to_wire`."""
        return cls(
            sent=int(data["sent"]),
            late=int(data["late"]),
            ok=int(data["ok"]),
            failures=Counter({str(k): int(v) for k, v in data["failures"].items()}),
            latencies=Counter({float(ms): int(n) for ms, n in data["latencies"]}),
        )


class Recorder:
    """Counts one process's requests by unix second.

    ``sent`` is booked on the second the request left, completions on the second they
    completed, so a second is final once it is over; :meth:`take_final` hands over the
    seconds that ended at least ``grace`` seconds ago.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._seconds: dict[int, SecondCounts] = {}
        self._handed_over = -1  # seconds up to this one were handed over

    def _at(self, t: float) -> SecondCounts:
        second = int(t)
        if second <= self._handed_over:
            # A completion stamped in a second already handed over (the process was starved
            # for longer than the grace): book it on the oldest open second, not lose it.
            second = self._handed_over + 1
        counts = self._seconds.get(second)
        if counts is None:
            counts = self._seconds[second] = SecondCounts()
        return counts

    def sent(self, t: float, lateness: float) -> None:
        """A request left at unix time ``t``, ``lateness`` seconds after its scheduled time."""
        counts = self._at(t)
        counts.sent += 1
        if lateness > LATE_AFTER_S:
            counts.late += 1

    def completed(self, t: float, latency_s: float, failure: str | None) -> None:
        """A request completed at ``t`` after ``latency_s``; ``failure`` is its kind, or None."""
        counts = self._at(t)
        if failure is None:
            counts.ok += 1
        else:
            counts.failures[failure] += 1
        counts.latencies[latency_key(latency_s * 1000.0)] += 1

    def take_final(self, since: int, grace: float) -> list[tuple[int, SecondCounts]]:
        """Hand over every second from ``since`` that ended ``grace`` seconds ago or more.

        Seconds with no activity are handed over too, so the receiver knows they are final.
        """
        upto = int(math.floor(self._clock() - grace)) - 1
        start = max(since, self._handed_over + 1)
        out = [(s, self._seconds.pop(s, SecondCounts())) for s in range(start, upto + 1)]
        # Anything older than ``since`` (before the schedule began) is dropped.
        for s in [s for s in self._seconds if s <= upto]:
            del self._seconds[s]
        self._handed_over = max(self._handed_over, upto)
        return out


Writer = Callable[[dict[str, Any]], None]


class Aggregator:
    """Merges the seconds of ``reporters`` processes and writes one line per second.

    A second is written once every reporter has handed it over, or ``grace`` seconds after
    it ended if one has not (its line then says how many were ``reporting``).
    """

    def __init__(
        self,
        *,
        t0: int,
        reporters: int,
        targets: Callable[[int], tuple[float, int]],
        users: Callable[[], int],
        write: Writer,
        grace: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.t0 = t0
        self.reporters = reporters
        self._targets = targets
        self._users = users
        self._write = write
        self._grace = grace
        self._clock = clock
        self._pending: dict[int, tuple[SecondCounts, set[Any]]] = {}
        self._next = t0  # the next second to write
        self.recent: list[dict[str, Any]] = []  # the last lines written, newest last
        self.total_sent = 0
        self.total_done = 0
        self.total_failed = 0
        self.written_until = t0  # seconds before this one are written

    def add(self, reporter: Any, seconds: Iterable[tuple[int, SecondCounts]]) -> None:
        """Merge a reporter's final seconds (those before ``t0`` are ignored)."""
        for second, counts in seconds:
            if second < self._next:
                continue
            merged, seen = self._pending.setdefault(second, (SecondCounts(), set()))
            merged.merge(counts)
            seen.add(reporter)

    def flush(self, *, final: bool = False) -> None:
        """Write every second that is complete (or overdue); ``final`` writes all pending."""
        now = self._clock()
        while True:
            merged, seen = self._pending.get(self._next, (None, set()))
            overdue = now >= self._next + 1 + self._grace
            if len(seen) >= self.reporters or overdue or (final and self._next <= max(self._pending, default=-1)):
                self._pending.pop(self._next, None)
                self._emit(self._next, merged or SecondCounts(), len(seen))
                self._next += 1
            else:
                return

    def _emit(self, second: int, counts: SecondCounts, reporting: int) -> None:
        target, scheduled = self._targets(second - self.t0)
        failed = sum(counts.failures.values())
        line: dict[str, Any] = {
            "event": "second",
            "t": second,
            "elapsed": second - self.t0,
            "target_rps": round(target, 3),
            "scheduled": scheduled,
            "achieved_rps": counts.sent,
            "ok": counts.ok,
            "failed": failed,
            "failures": dict(sorted(counts.failures.items())),
            "late": counts.late,
        }
        for q in PERCENTILES:
            line[f"p{q}_ms"] = percentile(counts.latencies, q)
        line["users"] = self._users()
        line["reporting"] = reporting
        self.total_sent += counts.sent
        self.total_done += counts.ok + failed
        self.total_failed += failed
        self.written_until = second + 1
        self.recent = [*self.recent[-9:], line]
        self._write(line)


def json_writer(stream: TextIO) -> Writer:
    """A writer of one compact JSON object per line, flushed at once."""

    def write(line: dict[str, Any]) -> None:
        stream.write(json.dumps(line, separators=(",", ":")) + "\n")
        stream.flush()

    return write


def _ms(value: float | None) -> str:
    return "     -" if value is None else f"{value:6.1f}"


def format_view(line: dict[str, Any]) -> str:
    """One human-readable row of the live view for a ``second`` line."""
    clock = time.strftime("%H:%M:%S", time.localtime(line["t"]))
    failures = " ".join(f"{k}={v}" for k, v in line["failures"].items()) or "-"
    return (
        f"{clock} +{line['elapsed']:>5}s  target {line['target_rps']:8.1f}/s  sent {line['achieved_rps']:6d}/s  "
        f"ok {line['ok']:6d}  failed {line['failed']:5d} ({failures})  "
        f"p50 {_ms(line['p50_ms'])}  p95 {_ms(line['p95_ms'])}  p99 {_ms(line['p99_ms'])} ms  "
        f"users {line['users']}"
    )
