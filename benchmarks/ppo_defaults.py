"""Stable-Baselines3 PPO with its default hyper-parameters on the default env: in which reward and
observation setting does it beat the best fixed replica count?

Each variant trains ``PPO("MlpPolicy", env)`` — every hyper-parameter SB3's default (n_steps
2048, batch 64, 10 epochs, gamma 0.99, lr 3e-4, 64x64 MLP) — on one
``gymnasium.make("FaaSTrainGym-v1", ...)`` env with the default profile, interval and episode
length, changing only the reward, the observation and whether Gymnasium's
``NormalizeObservation`` wraps it. Training worlds start from seed 0 and run on (the default
``world="continue"``). The trained policy (deterministic actions, the normalisation's statistics
frozen) is then evaluated with ``faastrain evaluate``'s harness on held-out seeds 9000-9009 x 2
episodes, beside HPA, KPA and the best static count in hindsight on the same episodes.

Run from the repository root (needs the rl extra; a variant of 300,000 steps takes 7-10
minutes on one of two shared cores, so the five take about 25 minutes with ``--jobs 2``;
``--variants`` picks some)::

    python benchmarks/ppo_defaults.py --timesteps 300000 --jobs 2

It prints a table per variant and a summary: PPO's mean total reward against the best static
count's, with 95% confidence intervals (docs/results.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

#: name -> keywords of gymnasium.make, and whether NormalizeObservation wraps the env.
VARIANTS: dict[str, tuple[dict[str, Any], bool]] = {
    # The starting point: FaaSTrainGym's reward and observation as they are.
    "seed-default": ({"reward": "seed"}, False),
    # The normalized reward alone.
    "normalized-default": ({"reward": "normalized"}, False),
    # The normalized reward, the six columns normalised: what the rich columns add.
    "normalized-default-norm": ({"reward": "normalized"}, True),
    # The setting the README's quick start recommends.
    "normalized-rich-norm": ({"reward": "normalized", "observation": "rich"}, True),
    # FaaSTrainGym's reward with the rich observation: what the reward changes.
    "seed-rich-norm": ({"reward": "seed", "observation": "rich"}, True),
}
SEEDS = list(range(9000, 9010))
EPISODES = 2


class Frozen:
    """A trained SB3 model as a faastrain policy, its observation normalisation frozen."""

    name = "ppo"

    def __init__(self, model: Any, mean: np.ndarray | None, var: np.ndarray | None) -> None:
        self.model, self.mean, self.var = model, mean, var

    def reset(self, seed: int | None = None) -> None:
        return None

    def act(self, obs: np.ndarray, info: Any) -> int:
        x = np.asarray(obs, dtype=np.float64)
        if self.mean is not None and self.var is not None:
            x = (x - self.mean) / np.sqrt(self.var + 1e-8)  # NormalizeObservation's formula
        action, _ = self.model.predict(x.astype(np.float32), deterministic=True)
        return int(action)


def run(name: str, timesteps: int, seed: int) -> dict[str, Any]:
    """Train and evaluate one variant; its table and figures."""
    import gymnasium
    import torch
    from gymnasium.wrappers import NormalizeObservation
    from stable_baselines3 import PPO

    import faastrain_async  # noqa: F401  (registers the id)
    from faastrain_async.env.gym_env import FaaSEnv
    from faastrain_async.evaluation import evaluate
    from faastrain_async.evaluation.report import aggregates, label, table

    torch.set_num_threads(1)
    keywords, normalise = VARIANTS[name]
    env: Any = gymnasium.make("FaaSTrainGym-v1", **keywords)
    if normalise:
        env = NormalizeObservation(env)
    env.reset(seed=seed)
    started = time.perf_counter()
    model = PPO("MlpPolicy", env, seed=seed, device="cpu")
    model.learn(timesteps)
    seconds = time.perf_counter() - started
    stats = env.obs_rms if normalise else None
    policy = Frozen(model, None if stats is None else stats.mean.copy(), None if stats is None else stats.var.copy())
    env.close()
    result = evaluate([policy, "hpa", "kpa", "best-static"], lambda: FaaSEnv("sim", **keywords), seeds=SEEDS, episodes=EPISODES)
    agg = aggregates(result)
    ppo, best = agg["ppo"]["total_reward"], agg["best-static"]["total_reward"]
    return {
        "name": name, "seconds": seconds, "table": table(result), "ppo": ppo, "best": best,
        "best_label": label(result, "best-static"), "replicas": agg["ppo"]["mean_replicas"].mean,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timesteps", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS), help="the variants to run (default: all)")
    parser.add_argument("--jobs", type=int, default=1, help="variants trained at once (one core each)")
    args = parser.parse_args(argv)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(run, args.variants, [args.timesteps] * len(args.variants), [args.seed] * len(args.variants)))
    for r in results:
        print(f"\n## {r['name']}: {args.timesteps:,} steps in {r['seconds']:.0f} s\n{r['table']}")
    print("\nvariant                 PPO reward        best static reward           PPO - best   PPO replicas")
    for r in results:
        diff = r["ppo"].mean - r["best"].mean
        print(f"{r['name']:<22}  {r['ppo'].text(3):<16}  {r['best'].text(3) + ' ' + r['best_label']:<32} {diff:+8.3f}   {r['replicas']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
