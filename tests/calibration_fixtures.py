"""Synthetic measurements of a function with known parameters, for the fitting tests."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from faastrain_async.calibration.fit import served
from faastrain_async.calibration.measurements import Burst, Facts, Level, Measurements, Probe, Transition, Usage


@dataclass(frozen=True)
class Truth:
    """The function the synthetic measurements describe."""

    service_time: float = 0.2
    service_time_cv: float = 0.3
    concurrency: int = 2
    replica_rate: float = 10.0
    overload: str = "reject"
    cpu_per_request: float = 0.004
    idle_cpu: float = 0.003
    mem_base_mib: float = 58.0
    mem_per_request_mib: float = 3.0
    cold_start: float = 1.6
    cold_start_cv: float = 0.25
    termination: float = 0.4
    termination_cv: float = 0.5
    cores: float | None = None
    request_timeout: float = 10.0


def lognormal(rng: np.random.Generator, mean: float, cv: float, n: int) -> list[float]:
    sigma = math.sqrt(math.log1p(cv * cv))
    return [float(x) for x in rng.lognormal(math.log(mean) - sigma * sigma / 2, sigma, n)]


def capacity(truth: Truth, replicas: int) -> float:
    slots = replicas * truth.replica_rate
    if truth.cores is None:
        return slots
    return min(slots, (truth.cores - replicas * truth.idle_cpu) / truth.cpu_per_request)


def levels(truth: Truth, replicas: int, rng: np.random.Generator, noise: float = 0.01) -> list[Level]:
    """A staircase from a quarter of the capacity to three times it, 1.4 apart."""
    k = capacity(truth, replicas)
    out = []
    offered = 0.25 * k
    while offered <= 3.0 * k:
        ok = served(offered, k, truth.concurrency * replicas, truth.overload) * (1 + noise * rng.standard_normal())
        failed = max(offered - ok, 0.0)
        kind = "status_429" if truth.overload == "reject" else "timeout"
        latency = truth.service_time if truth.overload == "reject" or offered < k else truth.request_timeout
        inflight = ok * truth.service_time / replicas
        out.append(Level(
            replicas=replicas, offered_rps=offered, scheduled_rps=offered, sent_rps=offered, ok_rps=ok,
            failures_rps={kind: failed} if failed > 0 else {},
            p50_s=latency, p95_s=latency * 1.3, p99_s=latency * 1.5 if failed == 0 else truth.request_timeout,
            gateway_mean_s=truth.service_time,
            cpu_cores=truth.idle_cpu + ok * truth.cpu_per_request / replicas + 1e-4 * rng.standard_normal(),
            memory_mib=truth.mem_base_mib + inflight * truth.mem_per_request_mib + 0.05 * rng.standard_normal(),
            seconds=12.0,
        ))  # fmt: skip
        offered *= 1.4
    return out


def bursts(truth: Truth, size: int = 16, count: int = 3) -> tuple[Burst, ...]:
    c = truth.concurrency
    if truth.overload == "reject":
        one = tuple([("200", truth.service_time)] * c + [("429", 0.002)] * (size - c))
    else:
        one = tuple(("200", truth.service_time * (1 + i // c)) for i in range(size))
    return (Burst(one),) * count


def synthetic(truth: Truth, seed: int = 0, replica_counts: tuple[int, ...] = (1, 2, 4)) -> Measurements:
    rng = np.random.default_rng(seed)
    gateway = lognormal(rng, truth.service_time, truth.service_time_cv, 300)
    scale_ups = [(1, 1 + k) for k in (1, 2, 3, 4)] * 6
    return Measurements(
        facts=Facts(cpu_request_cores=0.1, memory_request_mib=128.0, grace_period_s=5.0, load_timeout_s=truth.request_timeout),
        probe=Probe(tuple(t + 0.0015 for t in gateway), float(np.mean(gateway))),
        bursts=bursts(truth),
        idle=tuple(
            Usage(r, tuple(truth.idle_cpu + 1e-4 * rng.standard_normal(5)), tuple(truth.mem_base_mib + 0.05 * rng.standard_normal(5)))
            for r in replica_counts
        ),
        levels=tuple(level for r in replica_counts for level in levels(truth, r, rng)),
        cold_starts=tuple(
            Transition(a, b, s) for (a, b) in scale_ups for s in lognormal(rng, truth.cold_start, truth.cold_start_cv, b - a)
        ),
        terminations=tuple(
            Transition(b, a, s) for (a, b) in scale_ups for s in lognormal(rng, truth.termination, truth.termination_cv, b - a)
        ),
    )
