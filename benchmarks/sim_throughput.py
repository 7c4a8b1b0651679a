"""Steps per second of the simulated FaaSTrainGym-v1 against CartPole-v1, in one run.

Both go through ``gymnasium.make`` (with its wrappers) and take uniformly random actions, so
the simulator scales on almost every step (the costliest case for it). Target: the ratio
FaaSTrainGym / CartPole is at least 0.2 (a simulated step costs at most five CartPole steps).
The target is for the compiled build; the pure-Python one (an editable install) is about
half as fast. With the compiled build installed, the script also measures the repository's
pure-Python modules (random actions, in a child interpreter), interleaved with the rest:

    FAASTRAIN_COMPILE=1 pip install . && python benchmarks/sim_throughput.py   # both builds
    pip install -e . && python benchmarks/sim_throughput.py                    # pure Python only
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import gymnasium
import numpy as np

import faastrain_async

TARGET = 0.2
ROOT = Path(__file__).resolve().parents[1]
RANDOM = "FaaSTrainGym-v1 (sim, random actions)"


def steps_per_second(env_id: str, steps: int, seed: int, hold: bool = False, **kwargs: object) -> float:
    env = gymnasium.make(env_id, **kwargs)
    if hold:  # the no-op action of the delta mode: replicas never change
        actions = [env.unwrapped.env.settings.max_delta] * steps
    else:
        actions = np.random.default_rng(seed).integers(0, env.action_space.n, steps).tolist()
    env.reset(seed=seed)
    started = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    elapsed = time.perf_counter() - started
    env.close()
    return steps / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5, help="best of R runs of each, interleaved")
    parser.add_argument("--one-run", type=int, metavar="SEED", help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if args.one_run is not None:
        print(steps_per_second(faastrain_async.ENV_ID, args.steps, seed=args.one_run))
        return
    compiled = faastrain_async.compiled()
    rows = {
        RANDOM: lambda seed: steps_per_second(faastrain_async.ENV_ID, args.steps, seed),
        "FaaSTrainGym-v1 (sim, no-op actions)": lambda seed: steps_per_second(
            faastrain_async.ENV_ID, args.steps, seed, hold=True, initial_replicas=5
        ),
        "CartPole-v1": lambda seed: steps_per_second("CartPole-v1", args.steps, seed),
    }
    if compiled and (ROOT / "faastrain_async").is_dir():
        rows[RANDOM + ", pure Python"] = lambda seed: pure_python_run(args.steps, seed)
    results: dict[str, list[float]] = {name: [] for name in rows}
    for seed in range(args.repeats):  # interleaved, so load on the machine hits all alike
        for name, measure in rows.items():
            results[name].append(measure(seed))
    best = {name: max(values) for name, values in results.items()}
    cartpole = best["CartPole-v1"]
    build = "compiled (FAASTRAIN_COMPILE=1)" if compiled else "pure Python"
    print(f"installed build: {build}; best of {args.repeats} runs of {args.steps:,} steps each")
    print(f"{'environment':52} {'steps/s':>12} {'us/step':>9} {'ratio to CartPole':>18}")
    for name, value in best.items():
        print(f"{name:52} {value:12,.0f} {1e6 / value:9.1f} {value / cartpole:18.3f}")
    ratio = best[RANDOM] / cartpole
    verdict = "met" if ratio >= TARGET else "not met"
    print(f"target, random actions at >= {TARGET} of CartPole: {verdict} ({ratio:.3f}, {build})")


def pure_python_run(steps: int, seed: int) -> float:
    """One random-action run of the repository's own (pure-Python) modules, in a child."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-P", __file__, "--steps", str(steps), "--one-run", str(seed)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=True)
    return float(done.stdout)


if __name__ == "__main__":
    main()
