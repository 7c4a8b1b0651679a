"""``faastrain train``: train an agent on the environment (needs the ``rl`` or, with ``--engine rllib``, the ``ray`` extra)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from faastrain_async.cli.evaluate import parse_seeds
from faastrain_async.cli.logs import configure_logging
from faastrain_async.cli.run import add_env_arguments, env_arguments, key_values, make_env
from faastrain_async.errors import ConfigError
from faastrain_async.training.model_policy import ALGORITHMS

ENGINES = ("sb3", "rllib")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train",
        help="train an RL autoscaler (PPO, DQN or recurrent PPO; needs the rl or the ray extra)",
        description="Train with Stable-Baselines3 on vectorised envs (needs the rl extra), or with Ray RLlib on "
        "env runners on this machine or a Ray cluster (--engine rllib, needs the ray extra); evaluate against a "
        "baseline as it goes. sb3 saves PATH.zip (+ PATH.json), PATH-best.zip, PATH-logs/ and PATH-checkpoints/; "
        "rllib saves the checkpoint directory PATH/ (and PATH-best/, PATH-logs/, PATH-checkpoints/). "
        "Evaluate the result with: faastrain evaluate --policies hpa,model:PATH.zip (sb3) or hpa,rllib:PATH (rllib)",
    )
    parser.add_argument("--engine", choices=ENGINES, default="sb3", help="training library")
    parser.add_argument("--algo", choices=tuple(ALGORITHMS), default="ppo", help="algorithm (rllib: ppo)")
    parser.add_argument("--timesteps", type=int, default=100_000, help="environment steps to train for")
    parser.add_argument("--save", type=Path, default=Path("runs/model"), help="model path: sb3 adds .zip, rllib makes a directory")
    parser.add_argument("--seed", type=int, default=0, help="seed of the training worlds and of the model")
    parser.add_argument("--n-envs", type=int, default=4, help="envs stepped together (rllib: per env runner)")
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
    ray = parser.add_argument_group("rllib engine")
    ray.add_argument("--ray-address", metavar="HOST:PORT",
                     help="join this running Ray cluster (its head's address, or auto); without it Ray starts on this machine")  # fmt: skip
    ray.add_argument("--num-env-runners", type=int, metavar="N",
                     help="Ray actors that step the envs; without it 0 (the driver samples) on sim, one per function on a live backend")  # fmt: skip
    ray.add_argument("--functions", metavar="NAME,...",
                     help="live backend: the functions to scale, one per env runner; without it the --kube function")  # fmt: skip
    ray.add_argument("--agents", metavar="NAME,...",
                     help="train on the multi-agent env of these functions, one agent each (docs/multi-agent.md)")  # fmt: skip
    ray.add_argument("--shared-policy", action="store_true", help="with --agents: one module for every agent instead of one each")
    ray.add_argument("--multi", action="append", metavar="KEY=VALUE",
                     help="with --agents: a multi-agent env setting: cores, observe_free_cores, cooperative")  # fmt: skip
    add_env_arguments(parser)
    parser.set_defaults(func=run_train)


def worker_logging(json: bool, level: str) -> Callable[[], None]:
    """Logging of Ray's worker processes as this command's (Ray runs it in each; it needs a name)."""

    def set_up_logging() -> None:
        configure_logging(json=json, level=level)

    return set_up_logging


def names(text: str | None) -> tuple[str, ...]:
    """``a,b`` as ``("a", "b")``; None as ``()``."""
    return tuple(n.strip() for n in text.split(",") if n.strip()) if text is not None else ()


def run_train(args: argparse.Namespace) -> int:
    from faastrain_async.training.trainer import TrainConfig, train

    config = TrainConfig(
        algo=args.algo, timesteps=args.timesteps, save=args.save, seed=args.seed, n_envs=args.n_envs,
        history=args.history, learning_rate=args.learning_rate, gamma=args.gamma, eval_every=args.eval_every,
        checkpoint_every=args.checkpoint_every, baseline=args.eval_baseline,
        eval_seeds=tuple(parse_seeds(args.eval_seeds)), eval_episodes=args.eval_episodes, log_format=args.log_format,
    )  # fmt: skip
    started = time.perf_counter()
    rllib_only = ("ray_address", "num_env_runners", "functions", "agents", "multi")
    ray_given = [f"--{name.replace('_', '-')}" for name in rllib_only if getattr(args, name) is not None] + (["--shared-policy"] if args.shared_policy else [])
    if args.engine == "rllib":
        from faastrain_async.training.rllib import RayOptions, train_rllib

        options = RayOptions(address=args.ray_address, num_env_runners=args.num_env_runners, functions=names(args.functions))
        if options.functions and args.backend != "sim" and not any(k.startswith("function=") for k in args.kube or []):
            # The driver's own env (and a running local cluster's check) name the first function.
            args.kube = [*(args.kube or []), f"function={options.functions[0]}"]
        backend, kwargs = env_arguments(args)
        agents = names(args.agents)
        if agents:
            kwargs.update(key_values(args.multi, "multi"))
            if "profile" in kwargs:
                kwargs["profiles"] = kwargs.pop("profile")  # every agent's function gets the profile
        elif args.multi or args.shared_policy:
            raise ConfigError("--multi and --shared-policy apply to the multi-agent env: give --agents")
        result = train_rllib(config, backend, kwargs, options, agents=agents, shared_policy=args.shared_policy,
                             worker_setup=worker_logging(args.log_json, args.log_level))  # fmt: skip
    elif ray_given:
        raise ConfigError(f"{', '.join(ray_given)}: only with --engine rllib (this run's engine is sb3)")
    else:
        result = train(config, lambda: make_env(args))
    for row in result.evaluations:
        print(f"timesteps {row['timesteps']:>9.0f}  model {row['model_reward']:12.3f}  {args.eval_baseline} {row['baseline_reward']:12.3f}")
    saved = f"{result.model_path}" + (f" (+ {result.meta_path.name})" if args.engine == "sb3" else "/")
    print(f"saved {saved} in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return 0
