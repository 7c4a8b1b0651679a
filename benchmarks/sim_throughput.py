"""Steps per second of the simulated FaaSTrainGym-v1 against CartPole-v1, in one run.

Both go through ``gymnasium.make`` (with its wrappers) and take uniformly random actions, so
the simulator scales on almost every step (the costliest case for it). Target: the ratio
FaaSTrainGym / CartPole is at least 0.2 (a simulated step costs at most five CartPole steps).

    python benchmarks/sim_throughput.py [--steps N] [--repeats R]
"""

from __future__ import annotations

import argparse
import time
import warnings

import gymnasium
import numpy as np

import faastrain_async


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
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    rows = []
    for name, env_id, kwargs in (
        ("FaaSTrainGym-v1 (sim, random actions)", faastrain_async.ENV_ID, {}),
        ("FaaSTrainGym-v1 (sim, no-op actions)", faastrain_async.ENV_ID, {"hold": True, "initial_replicas": 5}),
        ("CartPole-v1", "CartPole-v1", {}),
    ):
        rows.append((name, env_id, kwargs, []))
    for r in range(args.repeats):  # interleaved, so load on the machine hits all alike
        for _, env_id, kwargs, results in rows:
            results.append(steps_per_second(env_id, args.steps, seed=r, **kwargs))
    best = {name: max(results) for name, _, _, results in rows}
    cartpole = best["CartPole-v1"]
    print(f"{'environment':42} {'steps/s':>12} {'us/step':>9} {'ratio to CartPole':>18}")
    for name, value in best.items():
        print(f"{name:42} {value:12,.0f} {1e6 / value:9.1f} {value / cartpole:18.3f}")


if __name__ == "__main__":
    main()
