"""Sim-to-real: the calibrated simulator against the local cluster, on the same seeded episodes.

Three workloads (the default sine, a step sequence, the shipped Azure trace scaled to the
cluster) and four policies (two static counts, ``hpa``, a fixed scripted up/down sequence),
each an episode of ``--steps`` windows of ``--interval`` seconds, run on the local cluster's
default function (the real path: Kubernetes API, OpenFaaS gateway, replica processes,
Prometheus, Locust), on the simulator with the shipped calibration (the default), and on the
simulator as it was before any calibration. Per metric it prints the median absolute relative
error per window of both simulators against the cluster, and Kendall's tau between the
cluster's and each simulator's ranking of the policies by episode reward.

    python benchmarks/sim_to_real.py                        # about 50 minutes: the cluster's part is real time
    python benchmarks/sim_to_real.py --real-from runs/sim-to-real/results.json   # the simulators again, same cluster run

results.json is rewritten after every cluster episode, so an interrupted run keeps its finished
episodes (``--real-from`` compares those).

Targets (calibrated simulator): median error <= 15% on throughput, mean execution time and
CPU; <= 10% on replicas and settle seconds; tau = 1; closer than the uncalibrated one on every
metric. Results go to ``--out`` (JSON, every window of every world).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from faastrain_async.calibration.compare import (
    METRICS, UNCALIBRATED, Case, World, local_cluster_world, median_errors, ranking_tau, sim_world,
)

ROOT = Path(__file__).resolve().parents[1]
TRACE = ROOT / "faastrain_async" / "evaluation" / "data" / "azure-functions-30s.json"
CALIBRATION = ROOT / "faastrain_async" / "calibration" / "data" / "api.json"

WORKLOADS = {
    "sine": "sine:period=600,low=2,high=40",
    "steps": "steps:rates=5/30/10/35/5,hold=40",
    # Peak 43 requests per 30 s: scaled to the cluster (about 36 req/s), 30 s replayed in 10 s.
    "azure": f"trace:path={TRACE},interval=30,scale=25,compress=3",
}
POLICIES = ("static:2", "static:6", "hpa", "script:deltas=3/2/0/-1/1/-2/0/2/-3/-1")

TARGETS = {"throughput_pct": 0.15, "exec_mean_s": 0.15, "cpu_util": 0.15, "replicas": 0.10, "settle_s": 0.10}


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def as_json(world: World) -> dict[str, Any]:
    return {
        "name": world.name,
        "cases": [
            {"workload": c.workload, "policy": c.policy, "seed": c.seed, "reward": world.rewards[c], "windows": world.windows[c]}
            for c in world.windows
        ],
    }


def from_json(data: dict[str, Any]) -> World:
    world = World(data["name"])
    for item in data["cases"]:
        case = Case(item["workload"], item["policy"], item["seed"])
        world.windows[case] = item["windows"]
        world.rewards[case] = item["reward"]
    return world


def save(args: argparse.Namespace, worlds: list[World]) -> None:
    """Write results.json (the cluster's world first): after every cluster episode, and at the end."""
    args.out.mkdir(parents=True, exist_ok=True)
    results = {"steps": args.steps, "interval": args.interval, "worlds": [as_json(w) for w in worlds]}
    path = args.out / "results.json"
    path.with_suffix(".tmp").write_text(json.dumps(results, indent=1) + "\n")
    path.with_suffix(".tmp").replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="windows per episode (default 20)")
    parser.add_argument("--interval", type=float, default=10.0, help="window length, s (default 10)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds of the episodes (default 0)")
    parser.add_argument("--calibration", type=Path, default=CALIBRATION, help="the calibrated simulator's file")
    parser.add_argument("--real-from", type=Path, help="a results.json of an earlier run: reuse its cluster windows")
    parser.add_argument("--out", type=Path, default=Path("runs/sim-to-real"), help="folder for results.json")
    parser.add_argument("--workloads", nargs="+", choices=tuple(WORKLOADS), default=list(WORKLOADS), help="workloads to run")
    parser.add_argument("--policies", nargs="+", default=list(POLICIES), help="policy specs to run")
    args = parser.parse_args()
    cases = [Case(WORKLOADS[w], p, s) for w in args.workloads for p in args.policies for s in args.seeds]
    if args.real_from is not None:
        saved = json.loads(args.real_from.read_text())
        real = from_json(saved["worlds"][0])
        cases = list(real.windows)
        args.steps, args.interval = saved["steps"], saved["interval"]
    else:
        say(f"{len(cases)} episodes of {args.steps} windows of {args.interval:g} s on the local cluster")
        real = local_cluster_world(cases, args.steps, args.interval, say, lambda world: save(args, [world]))
    calibrated = sim_world("calibrated", {"calibration": str(args.calibration)}, cases, args.steps, args.interval)
    uncalibrated = sim_world("uncalibrated", UNCALIBRATED, cases, args.steps, args.interval)
    save(args, [real, calibrated, uncalibrated])

    errors = {w.name: median_errors(w, real) for w in (calibrated, uncalibrated)}
    print(f"median absolute relative error per window against the local cluster ({len(cases)} episodes x {args.steps} windows)")
    print(f"{'metric':16} {'calibrated':>11} {'uncalibrated':>13} {'target':>8}  met  closer")
    for metric in METRICS:
        c, u = errors["calibrated"][metric], errors["uncalibrated"][metric]
        target = TARGETS.get(metric)
        met = "-" if target is None else ("yes" if c <= target else "NO")
        closer = "yes" if c < u else ("equal" if c == u else "NO")
        print(f"{metric:16} {c:>10.1%} {u:>13.1%} {'' if target is None else f'{target:.0%}':>8}  {met:>3}  {closer:>6}")
    for world in (calibrated, uncalibrated):
        taus = ranking_tau(world, real)
        print(f"Kendall's tau, {world.name} vs cluster: " + ", ".join(
            f"{next((k for k, v in WORKLOADS.items() if v == name), name)} {tau:+.2f}" for name, tau in taus.items()
        ))  # fmt: skip
    print(f"wrote {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
