"""Does a learned autoscaler generalise? Train on a mixture of workload families, then rank it on
the ``faastrain-v1`` suite's held-out seeds, including families it never saw.

PPO and recurrent PPO (sb3-contrib) are trained with ``faastrain train``'s settings on the vector
simulator, on ``mix:`` of every family of the suite but ``onoff`` (a Markov-modulated on/off
process); the suite's ``trace`` scenario (a replayed Azure Functions sample) is new to them too.
Every episode of training begins a new world (``world="new"``: 63-bit world seeds), and the
periodic validation runs on seed 500, so no training or validation world is a suite world
(seeds 9000-9009; see faastrain_async/evaluation/bench.py). The final models are ranked, not
the best-validated ones.

Then ``faastrain bench``'s runner ranks them beside HPA (the score's 0), HPA on requests per
second, KPA, OpenFaaS and the best static count in hindsight (the score's 1).

Run from the repository root (needs the rl extra; about 10 minutes on 2 cores with the
defaults)::

    python benchmarks/generalisation.py --out runs/generalisation

It writes the models and the bench's files (leaderboard, episodes.csv, results.json, plots)
under ``--out`` and prints the leaderboard and the markdown table of docs/results.md.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

from faastrain_async.cli.logs import configure_logging
from faastrain_async.env.gym_env import FaaSEnv
from faastrain_async.env.vector_env import FaaSVectorEnv
from faastrain_async.evaluation.bench import SUITES, BenchResult, run_bench
from faastrain_async.evaluation.leaderboard import mean_scores, paired, rows, text
from faastrain_async.training.trainer import TrainConfig, train

#: Every family of the suite but onoff (and no trace: the replay is new too).
TRAINING_MIX = "mix:steady|sine|diurnal|step|flash|azure"
LEFT_OUT = ("onoff", "trace")
ENV = {"reward": "normalized", "observation": "rich"}
BASELINES = ["hpa:metric=rps", "kpa", "openfaas"]


def train_one(algo: str, seed: int, timesteps: int, n_envs: int, out: Path) -> tuple[Path, float]:
    """Train ``algo`` on the mixture; the saved model's path and the seconds it took."""
    config = TrainConfig(
        algo=algo, timesteps=timesteps, save=out / f"{algo}-seed{seed}", seed=seed, n_envs=n_envs,
        eval_every=max(timesteps // 4, 1), eval_seeds=(500,), eval_episodes=4,
    )  # fmt: skip
    started = time.perf_counter()
    result = train(config, lambda: FaaSEnv("sim", profile=TRAINING_MIX, world="new", episode_steps=20, **ENV))
    return result.model_path, time.perf_counter() - started


def markdown(result: BenchResult, names: dict[str, str]) -> str:
    """Scenario rows; per policy the mean total reward ± 95% CI and the normalised score."""
    head = ["scenario", *[names.get(p, p) for p in result.policies], "best static"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for sc in result.scenarios:
        board = rows(sc, result.policies)
        cells = [f"{s.text(2)} ({'n/a' if math.isnan(x) else f'{x:.2f}'})" for _, s, x in board[:-1]]
        best = board[-1][1]
        left = " (left out)" if sc.scenario.name in LEFT_OUT else ""
        lines.append(f"| {sc.scenario.name}{left} | " + " | ".join(cells) + f" | {best.text(2)} ({sc.best_static}) |")
    means = mean_scores(result)
    lines.append("| mean score | " + " | ".join(f"{means[p][0]:.2f}" for p in result.policies) + " | 1.00 |")
    return "\n".join(lines)


def differences(result: BenchResult, names: dict[str, str]) -> str:
    """Each model's total reward minus the best static count's and HPA's, episode by episode."""
    models = [p for p in result.policies if p in names]
    head = ["scenario", *(f"{names[m]} − {other}" for m in models for other in ("best static", "hpa"))]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for sc in result.scenarios:
        cells = [paired(sc, m, other).text(2) for m in models for other in (sc.best_static, result.policies[0])]
        lines.append(f"| {sc.scenario.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/generalisation"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="PPO training seeds")
    parser.add_argument("--timesteps", type=int, default=300_000, help="PPO timesteps per run")
    parser.add_argument("--recurrent-timesteps", type=int, default=100_000, help="recurrent PPO timesteps (0: none)")
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--suite", default="faastrain-v1", choices=tuple(SUITES))
    args = parser.parse_args(argv)
    configure_logging(json=False, level="warning")
    models: dict[str, str] = {}
    budgets: list[str] = []
    for seed in args.seeds:
        path, seconds = train_one("ppo", seed, args.timesteps, args.n_envs, args.out / "models")
        models[f"model:{path}"] = f"PPO (seed {seed})"
        budgets.append(f"PPO seed {seed}: {args.timesteps:,} steps in {seconds:.0f} s")
        print(budgets[-1], file=sys.stderr, flush=True)
    if args.recurrent_timesteps:
        path, seconds = train_one("recurrent-ppo", args.seeds[0], args.recurrent_timesteps, args.n_envs, args.out / "models")
        models[f"model:{path}"] = f"recurrent PPO (seed {args.seeds[0]})"
        budgets.append(f"recurrent PPO seed {args.seeds[0]}: {args.recurrent_timesteps:,} steps in {seconds:.0f} s")
        print(budgets[-1], file=sys.stderr, flush=True)

    def make_env(overrides: dict[str, Any]) -> FaaSEnv:
        return FaaSEnv("sim", **ENV, **overrides)

    def make_vector(overrides: dict[str, Any], n: int) -> FaaSVectorEnv:
        return FaaSVectorEnv(n, **ENV, **overrides)

    started = time.perf_counter()
    result = run_bench(SUITES[args.suite], [*BASELINES, *models], make_env, out=args.out / "bench", make_vector_env=make_vector,
                       config={"env": ENV, "training_mix": TRAINING_MIX, "left_out": list(LEFT_OUT), "budgets": budgets})  # fmt: skip
    print(text(result))
    print()
    print(markdown(result, models))
    print()
    print(differences(result, models))
    print()
    for line in budgets:
        print(f"- {line}")
    print(f"- bench ({args.suite}, {len(result.policies) + 1} policies with the best static count, 10 static counts run): "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
