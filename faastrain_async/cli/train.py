"""``faastrain train``: train an agent on the environment (needs the ``rl`` extra)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from faastrain_async.cli.evaluate import parse_seeds
from faastrain_async.cli.run import add_env_arguments, make_env
from faastrain_async.training.model_policy import ALGORITHMS


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train",
        help="train an RL autoscaler (PPO, DQN or recurrent PPO; needs the rl extra)",
        description="Train with Stable-Baselines3 on vectorised envs; evaluate against a baseline as it goes; "
        "save PATH.zip (+ PATH.json), PATH-best.zip, PATH-logs/ and PATH-checkpoints/. "
        "Evaluate the result with: faastrain evaluate --policies hpa,model:PATH.zip",
    )
    parser.add_argument("--algo", choices=tuple(ALGORITHMS), default="ppo", help="algorithm")
    parser.add_argument("--timesteps", type=int, default=100_000, help="environment steps to train for")
    parser.add_argument("--save", type=Path, default=Path("runs/model"), help="model path, .zip added")
    parser.add_argument("--seed", type=int, default=0, help="seed of the training worlds and of the model")
    parser.add_argument("--n-envs", type=int, default=4, help="envs stepped together")
    parser.add_argument("--history", type=int, default=2, help="steps of observation the model sees")
    parser.add_argument("--learning-rate", type=float, default=3e-4, help="the optimiser's step size")
    parser.add_argument("--gamma", type=float, default=0.95, help="discount")
    parser.add_argument("--eval-every", type=int, default=10_000, help="timesteps between evaluations; 0: none")
    parser.add_argument("--eval-baseline", default="hpa", help="policy spec evaluated beside the model")
    parser.add_argument("--eval-seeds", nargs="+", default=["1000"], help="held-out evaluation seeds")
    parser.add_argument("--eval-episodes", type=int, default=3, help="episodes per evaluation seed")
    parser.add_argument("--checkpoint-every", type=int, default=0, help="timesteps between checkpoints; 0: none")
    parser.add_argument(
        "--log-format", choices=("csv", "tensorboard"), default="csv",
        help="training log format; tensorboard needs the tensorboard package",
    )  # fmt: skip
    add_env_arguments(parser)
    parser.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    from faastrain_async.training.trainer import TrainConfig, train

    config = TrainConfig(
        algo=args.algo, timesteps=args.timesteps, save=args.save, seed=args.seed, n_envs=args.n_envs,
        history=args.history, learning_rate=args.learning_rate, gamma=args.gamma, eval_every=args.eval_every,
        checkpoint_every=args.checkpoint_every, baseline=args.eval_baseline,
        eval_seeds=tuple(parse_seeds(args.eval_seeds)), eval_episodes=args.eval_episodes, log_format=args.log_format,
    )  # fmt: skip
    started = time.perf_counter()
    result = train(config, lambda: make_env(args))
    for row in result.evaluations:
        print(f"timesteps {row['timesteps']:>9.0f}  model {row['model_reward']:12.3f}  {args.eval_baseline} {row['baseline_reward']:12.3f}")
    print(f"saved {result.model_path} (+ {result.meta_path.name}) in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return 0
