"""How much a calibration measures: the full plan (about 15 minutes on the local cluster) and
the quick one (about two minutes, for tests)."""

from __future__ import annotations

from dataclasses import dataclass

from faastrain_async.config import check, int_at_least, positive


@dataclass(frozen=True)
class Plan:
    """The experiment's sizes and durations (seconds, requests per second)."""

    name: str
    #: Replica counts whose capacity is measured, fewest first.
    replica_counts: tuple[int, ...]
    #: Requests sent one at a time to measure the service time.
    probe_requests: int
    #: Bursts of ``burst_size`` requests sent at once to one replica (concurrency, overload).
    bursts: int
    burst_size: int
    #: Seconds of CPU and memory readings with no load, at each replica count.
    idle_seconds: float
    #: Seconds between CPU and memory readings.
    usage_every: float
    #: Seconds each load level is held, and the first seconds of it left out (warm-up).
    hold: float
    warmup: float
    #: The first level's rate as a share of the expected capacity; the ratio between levels.
    start_fraction: float
    step: float
    #: Most levels per replica count; a staircase stops once a level sent ``past`` times the
    #: most requests per second served so far.
    max_levels: int
    past: float
    #: Scale-ups (each followed by a scale-down), adding ``scale_sizes`` pods in turn.
    scale_ups: int
    scale_sizes: tuple[int, ...]
    #: Longest wait for the replicas to settle after a scale request.
    settle_timeout: float
    #: The highest rate ever offered.
    max_rate: float

    def __post_init__(self) -> None:
        check(bool(self.replica_counts) and all(isinstance(r, int) and r >= 1 for r in self.replica_counts),
              "replica_counts", self.replica_counts, "must be replica counts >= 1")  # fmt: skip
        for name in ("probe_requests", "bursts", "burst_size", "max_levels", "scale_ups"):
            int_at_least(name, getattr(self, name), 2 if name in ("probe_requests", "scale_ups", "burst_size") else 1)
        for name in ("idle_seconds", "usage_every", "hold", "start_fraction", "settle_timeout", "max_rate"):
            positive(name, getattr(self, name))
        check(0 <= self.warmup < self.hold, "warmup", self.warmup, f"must be in [0, hold={self.hold})")
        check(self.step > 1, "step", self.step, "must be > 1")
        check(self.past > 1, "past", self.past, "must be > 1")
        check(bool(self.scale_sizes) and all(isinstance(k, int) and k >= 1 for k in self.scale_sizes),
              "scale_sizes", self.scale_sizes, "must be pod counts >= 1")  # fmt: skip


FULL = Plan(
    name="full", replica_counts=(1, 2, 4, 8), probe_requests=200, bursts=5, burst_size=16, idle_seconds=8.0,
    usage_every=1.0, hold=20.0, warmup=4.0, start_fraction=0.25, step=1.5, max_levels=12, past=2.5,
    scale_ups=20, scale_sizes=(1, 2, 3, 4), settle_timeout=120.0, max_rate=3000.0,
)  # fmt: skip
QUICK = Plan(
    name="quick", replica_counts=(1, 2), probe_requests=30, bursts=2, burst_size=16, idle_seconds=3.0,
    usage_every=1.0, hold=6.0, warmup=2.0, start_fraction=0.4, step=2.0, max_levels=6, past=2.5,
    scale_ups=6, scale_sizes=(1, 2, 3), settle_timeout=60.0, max_rate=3000.0,
)  # fmt: skip
PLANS = {"full": FULL, "quick": QUICK}
