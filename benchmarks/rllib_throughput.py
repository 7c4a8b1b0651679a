"""Training throughput: RLlib PPO on a two-node Ray cluster of this machine against
Stable-Baselines3 PPO in one process, in one run, on the same env with the same budget.

Every run trains PPO with the same hyper-parameters (256 env steps per env and iteration,
minibatches of 256, 10 epochs, a 64x64 network) for the same number of env steps on the
simulator with the same settings and ``--envs`` envs in all:

- ``sb3``: ``faastrain train`` with Stable-Baselines3, one process (the vector simulator);
- ``rllib local``: RLlib with no env runner (the driver samples), on a Ray node of its own;
- ``rllib 2 nodes``: RLlib on a cluster of two Ray nodes started here (the head offers no
  CPU; the second node runs ``--runners`` env runners, each stepping ``envs / runners`` envs).

It prints, side by side, the wall time of each run (start to end: Ray's nodes started and
stopped included) and the env steps per second of the whole run and of its training loop
alone (SB3's ``time/fps``; RLlib's iterations).
Needs the ``rl`` and ``ray`` extras; takes a few minutes on two cores:

    python benchmarks/rllib_throughput.py                      # 40,960 steps, 4 envs, 2 env runners
    python benchmarks/rllib_throughput.py --timesteps 81920 --envs 8 --runners 2
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import os
import tempfile
import time
from pathlib import Path

# The Ray nodes of this benchmark use token authentication, and this process joins them as a
# driver: Ray reads the mode when it is imported, so it is set before anything imports Ray.
os.environ.setdefault("RAY_AUTH_MODE", "token")

from faastrain_async.env.gym_env import FaaSEnv  # noqa: E402
from faastrain_async.training.ray_node import RayNode  # noqa: E402
from faastrain_async.training.rllib import RayOptions, train_rllib  # noqa: E402
from faastrain_async.training.trainer import TrainConfig, train  # noqa: E402

ENV = {"profile": "sine:period=600,low=2,high=40", "reward": "normalized"}


def loop_rate(logs: Path, column: str) -> float:
    """Env steps per second of a run's training loop: ``column`` of its log's last row."""
    rows = list(csv.DictReader((logs / "progress.csv").open()))
    return float(rows[-1][column])


def run_sb3(config: TrainConfig) -> tuple[float, float]:
    started = time.perf_counter()
    result = train(config, lambda: FaaSEnv("sim", **ENV))
    wall = time.perf_counter() - started
    stem = result.model_path.with_suffix("")
    return wall, loop_rate(stem.with_name(stem.name + "-logs"), "time/fps")


def run_rllib(config: TrainConfig, options: RayOptions, nodes: int = 0) -> tuple[float, float]:
    """An RLlib run; with ``nodes``, on a cluster of that many Ray nodes started (and stopped) here."""
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if nodes:
            head = stack.enter_context(RayNode(num_cpus=0))
            for _ in range(nodes - 1):
                stack.enter_context(RayNode(head_address=head.address, num_cpus=options.num_env_runners or 1))
            options = dataclasses.replace(options, address=head.address)
        result = train_rllib(config, "sim", ENV, options)
    wall = time.perf_counter() - started
    return wall, loop_rate(result.model_path.with_name(result.model_path.name + "-logs"), "env_steps_per_s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timesteps", type=int, default=40_960, help="env steps each run trains for")
    parser.add_argument("--envs", type=int, default=4, help="envs in all, in every run")
    parser.add_argument("--runners", type=int, default=2, help="env runners on the second node")
    args = parser.parse_args()
    if args.envs % args.runners:
        parser.error(f"--envs {args.envs} must be a multiple of --runners {args.runners}")

    common = dict(timesteps=args.timesteps, eval_every=0, seed=0)
    results: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        wall, loop = run_sb3(TrainConfig(save=out / "sb3", n_envs=args.envs, **common))
        results.append(("sb3, one process", wall, loop))
        wall, loop = run_rllib(TrainConfig(save=out / "local", n_envs=args.envs, **common), RayOptions(num_env_runners=0))
        results.append(("rllib, driver samples (1 node)", wall, loop))
        config = TrainConfig(save=out / "cluster", n_envs=args.envs // args.runners, **common)
        wall, loop = run_rllib(config, RayOptions(num_env_runners=args.runners), nodes=2)
        results.append((f"rllib, {args.runners} env runners on node 2", wall, loop))

    print(f"\nPPO, {args.timesteps:,} env steps, {args.envs} envs in all, simulator ({ENV['profile']}); {os.cpu_count()} cores")
    print(f"{'run':<36} {'wall s':>8} {'steps/s (run)':>14} {'steps/s (loop)':>15} {'vs sb3':>7}")
    sb3_rate = args.timesteps / results[0][1]
    for name, wall, loop in results:
        rate = args.timesteps / wall
        print(f"{name:<36} {wall:8.1f} {rate:14,.0f} {loop:15,.0f} {rate / sb3_rate:7.2f}")
    print("steps/s (run): start to end, Ray's nodes started and stopped included; (loop): the training iterations only")


if __name__ == "__main__":
    main()
