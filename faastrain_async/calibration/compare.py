"""Sim-to-real: the same seeded episodes in several worlds, compared window by window.

A *case* is a workload, a policy and a seed. Each world (a live backend, the calibrated
simulator, an uncalibrated one) runs every case as one episode of ``steps`` windows; the
comparison then gives, per metric, each window's relative error against the reference world
(the live one), their median, and whether the worlds rank the policies alike by episode
reward (Kendall's tau). ``benchmarks/sim_to_real.py`` drives it; docs/sim-to-real.md reports it.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from typing import Any

from faastrain_async.env.gym_env import FaaSEnv, Portal
from faastrain_async.policies import make_policy
from faastrain_async.rollout import StepRow, rollout

#: The metrics compared, in report order.
METRICS: tuple[str, ...] = (
    "requests", "throughput_pct", "exec_mean_s", "exec_p95_s", "cpu_util", "mem_util", "replicas", "settle_s",
)  # fmt: skip

#: Below these magnitudes a relative error means little (a window with no scaling settles in
#: 0 s; an idle window serves no request): the error is taken relative to the floor instead.
FLOORS: dict[str, float] = {
    "requests": 1.0, "throughput_pct": 1.0, "exec_mean_s": 0.001, "exec_p95_s": 0.001,
    "cpu_util": 0.01, "mem_util": 0.01, "replicas": 1.0, "settle_s": 0.1,
}  # fmt: skip


#: The simulator as it was before any calibration (its old defaults): one request at a time,
#: 0.2 s, a queue with a 10 s timeout, 3 s cold starts.
UNCALIBRATED: dict[str, Any] = dict(
    service_time=0.2, service_time_cv=0.5, concurrency=1, replica_rate=None, overload="queue", request_timeout=10.0,
    cpu_per_request=0.02, cpu_request=0.1, idle_cpu=0.002, mem_request_mib=128.0, mem_base_mib=40.0,
    mem_per_request_mib=12.0, cold_start=3.0, cold_start_cv=0.3, termination=0.2, termination_cv=0.5,
)


@dataclass(frozen=True)
class Case:
    """One episode to run in every world."""

    workload: str
    policy: str
    seed: int


def window_values(row: StepRow) -> dict[str, float | None]:
    """A step row's metrics (None where the window had no measurement)."""
    obs, info = row.obs, row.info
    return {
        "requests": obs["requests"],
        "throughput_pct": obs["throughput_pct"],
        "exec_mean_s": None if info.get("exec_time_missing") else obs["exec_time_s"],
        "exec_p95_s": info.get("p95_exec_s"),
        "cpu_util": obs["cpu_util"],
        "mem_util": obs["mem_util"],
        "replicas": obs["replicas"],
        "settle_s": info["settle_seconds"],
    }


@dataclass
class World:
    """One world's windows and episode rewards, by case."""

    name: str
    windows: dict[Case, list[dict[str, float | None]]] = field(default_factory=dict)
    rewards: dict[Case, float] = field(default_factory=dict)


def run_world(
    name: str, make_env: Callable[[str], FaaSEnv], cases: Sequence[Case], steps: int,
    progress: Callable[[str], None] | None = None, saved: Callable[[World], None] | None = None,
) -> World:
    """Run every case for ``steps`` windows in the envs ``make_env(workload)`` builds.

    ``saved(world)`` is called after each case, so that a caller can keep what is finished.
    """
    world = World(name)
    for n, case in enumerate(cases, start=1):
        env = make_env(case.workload)
        try:
            policy = make_policy(case.policy, env.env.settings)
            rows = [r for r in rollout(env, policy, steps=steps, seed=case.seed) if r.action is not None]
        finally:
            env.close()
        world.windows[case] = [window_values(r) for r in rows]
        world.rewards[case] = float(sum(r.reward or 0.0 for r in rows))
        if saved is not None:
            saved(world)
        if progress is not None:
            progress(f"{name}: {n}/{len(cases)} {case.workload} {case.policy} reward {world.rewards[case]:.1f}")
    return world


def sim_world(name: str, sim: dict[str, Any], cases: Sequence[Case], steps: int, interval: float) -> World:
    """The cases on the simulator with the settings ``sim`` (e.g. ``{"calibration": PATH}``)."""

    def make(workload: str) -> FaaSEnv:
        return FaaSEnv("sim", profile=workload, interval=interval, episode_steps=steps, sim=sim)

    return run_world(name, make, cases, steps)


def local_cluster_world(
    cases: Sequence[Case], steps: int, interval: float, progress: Callable[[str], None] | None = None,
    saved: Callable[[World], None] | None = None,
) -> World:
    """The cases on a local cluster of its own (its default function), started and stopped here."""
    from faastrain_async.local import LocalCluster

    portal = Portal("local-cluster")
    cluster = LocalCluster()
    try:
        portal.call(cluster.start(), 120.0)
        kube = dict(
            kubeconfig=str(cluster.kubeconfig_path), prometheus_url=cluster.prometheus_url,
            gateway_url=cluster.gateway_url, function=cluster.functions[0].name,
        )  # fmt: skip

        def make(workload: str) -> FaaSEnv:
            return FaaSEnv("kubernetes", profile=workload, interval=interval, episode_steps=steps, kubernetes=kube)

        return run_world("cluster", make, cases, steps, progress, saved)
    finally:
        try:
            portal.call(cluster.stop(), 120.0)
        finally:
            portal.close()


def relative_errors(world: World, reference: World, metric: str) -> list[float]:
    """``|world − reference| / max(|reference|, floor)`` of every window both measured."""
    floor = FLOORS[metric]
    out = []
    for case, windows in reference.windows.items():
        for ref, got in zip(windows, world.windows[case]):
            r, g = ref[metric], got[metric]
            if r is not None and g is not None and math.isfinite(r) and math.isfinite(g):
                out.append(abs(g - r) / max(abs(r), floor))
    return out


def median_errors(world: World, reference: World) -> dict[str, float]:
    """Per metric, the median relative error per window (NaN when no window had both)."""
    out = {}
    for metric in METRICS:
        errors = relative_errors(world, reference, metric)
        out[metric] = statistics.median(errors) if errors else math.nan
    return out


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b of two rankings given as scores (ties counted in neither direction)."""
    concordant = discordant = ties_a = ties_b = 0
    for i, j in itertools.combinations(range(len(a)), 2):
        da, db = a[i] - a[j], b[i] - b[j]
        if da == 0 and db == 0:
            continue
        if da == 0:
            ties_a += 1
        elif db == 0:
            ties_b += 1
        elif (da > 0) == (db > 0):
            concordant += 1
        else:
            discordant += 1
    denominator = math.sqrt((concordant + discordant + ties_a) * (concordant + discordant + ties_b))
    return (concordant - discordant) / denominator if denominator else math.nan


def ranking_tau(world: World, reference: World) -> dict[str, float]:
    """Per workload, Kendall's tau between the two worlds' rankings of the policies by mean
    episode reward; and ``"all"``, over every (workload, policy) pair."""
    workloads = sorted({c.workload for c in reference.rewards})
    out: dict[str, float] = {}
    pairs: list[tuple[float, float]] = []
    for workload in workloads:
        policies = sorted({c.policy for c in reference.rewards if c.workload == workload})

        def mean(w: World, policy: str, workload: str = workload) -> float:
            return statistics.fmean(r for c, r in w.rewards.items() if c.workload == workload and c.policy == policy)

        scores = [(mean(reference, p), mean(world, p)) for p in policies]
        out[workload] = kendall_tau([s[0] for s in scores], [s[1] for s in scores])
        pairs += scores
    out["all"] = kendall_tau([p[0] for p in pairs], [p[1] for p in pairs])
    return out
