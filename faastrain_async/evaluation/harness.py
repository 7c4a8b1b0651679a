"""Run several policies on the same seeded episodes and measure each episode.

Episode ``e`` (0-based) of seed ``s`` starts a new world with the world seed
``SeedSequence([s, e])`` draws (see :func:`episode_seeds`), so every policy faces the same
arrivals, replica timings and measurement noise in that episode (the simulator draws these
from separate streams, so a policy's scaling does not change the arrivals it sees). Each
episode runs from ``reset(seed=world_seed)`` until the env truncates it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from faastrain_async.env.gym_env import FaaSEnv
from faastrain_async.env.vector_env import FaaSVectorEnv
from faastrain_async.errors import ConfigError
from faastrain_async.evaluation.vector import vector_episodes
from faastrain_async.policies import Policy, make_policy
from faastrain_async.policies.baselines import BestStaticPolicy
from faastrain_async.rollout import StepRow, rollout, summarize

#: Per-episode metrics, in report order.
METRICS: tuple[str, ...] = (
    "total_reward", "throughput_pct", "mean_exec_s", "p95_exec_s",
    "mean_replicas", "replica_seconds", "slo_violations", "settle_s",
)  # fmt: skip

#: (done, total, label) after each episode.
ProgressFn = Callable[[int, int, str], None]


@dataclass(frozen=True)
class SLO:
    """A window violates the objective when its p95 execution time exceeds ``p95_seconds``,
    its throughput falls below ``throughput_pct``, or requests completed but none succeeded."""

    p95_seconds: float = 1.0
    throughput_pct: float = 99.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.p95_seconds) and self.p95_seconds > 0):
            raise ConfigError(f"SLO p95 seconds={self.p95_seconds!r} must be a finite number > 0")
        if not 0 <= self.throughput_pct <= 100:
            raise ConfigError(f"SLO throughput={self.throughput_pct!r} must be a percentage in [0, 100]")

    def violated(self, row: StepRow) -> bool:
        if row.obs["requests"] <= 0:
            return False  # nothing was asked of the function
        if row.info.get("exec_time_missing"):
            return True
        p95 = row.info.get("p95_exec_s")
        return row.obs["throughput_pct"] < self.throughput_pct or (p95 is not None and p95 > self.p95_seconds)


@dataclass
class EpisodeResult:
    """One policy's episode: its metrics and its step rows."""

    policy: str
    seed: int
    episode: int
    world_seed: int
    metrics: dict[str, float]
    rows: list[StepRow] = field(repr=False)


@dataclass
class Evaluation:
    """Every episode of every policy, in the order the policies were given."""

    policies: list[str]
    results: list[EpisodeResult]
    interval: float
    slo: SLO
    #: What a hindsight policy settled on, e.g. {"best-static": "static:4"}.
    chosen: dict[str, str] = field(default_factory=dict)

    def of(self, policy: str) -> list[EpisodeResult]:
        return [r for r in self.results if r.policy == policy]


def split_policies(texts: str | Iterable[str]) -> list[str]:
    """Policy specs from ``--policies`` text(s).

    ``;`` always separates policies. ``,`` separates them too, except that a piece that looks
    like ``key=value`` (an ``=`` and no ``:`` before it) is another option of the policy before
    it: ``hpa:target=0.6,tolerance=0.05,kpa,static:4`` is three policies.
    """
    specs: list[str] = []
    for text in [texts] if isinstance(texts, str) else texts:
        for group in text.split(";"):
            for piece in (p.strip() for p in group.split(",")):
                if not piece:
                    continue
                key, eq, _ = piece.partition("=")
                if eq and ":" not in key:
                    if not specs or ":" not in specs[-1]:
                        raise ConfigError(f"policy option {piece!r} follows no policy with options (write name:{piece})")
                    specs[-1] += "," + piece
                else:
                    specs.append(piece)
    if not specs:
        raise ConfigError("no policy given; e.g. --policies hpa,kpa,static:4")
    return specs


def episode_seeds(seeds: Sequence[int], episodes: int) -> list[tuple[int, int, int]]:
    """``(seed, episode, world_seed)`` for each episode to run."""
    if episodes < 1:
        raise ConfigError(f"episodes={episodes} must be >= 1")
    if not seeds:
        raise ConfigError("at least one seed is needed")
    out = []
    for s in seeds:
        if s < 0:
            raise ConfigError(f"seed {s} must be >= 0")
        for e in range(episodes):
            world = int(np.random.SeedSequence([s, e]).generate_state(1, dtype=np.uint32)[0])
            out.append((s, e, world))
    return out


def run_episode(env: FaaSEnv, policy: Policy, world_seed: int) -> list[StepRow]:
    """Rows of one episode: its reset, then each step until the episode ends."""
    rows: list[StepRow] = []
    for row in rollout(env, policy, steps=env.env.settings.episode_steps, seed=world_seed):
        rows.append(row)
        if row.terminated or row.truncated:
            break  # ended early (a settle timeout): the next steps would be another episode
    return rows


def episode_metrics(rows: Sequence[StepRow], interval: float, slo: SLO) -> dict[str, float]:
    """The :data:`METRICS` of one episode (NaN where a metric had no measurement)."""
    steps = [r for r in rows if r.action is not None]
    if not steps:
        raise ConfigError("an episode with no step cannot be measured")
    base = summarize(rows, interval)
    requests = sum(r.obs["requests"] for r in steps)
    successes = sum(float(r.info.get("successes", 0.0)) for r in steps)
    timed = [r for r in steps if not r.info.get("exec_time_missing")]
    weights = [float(r.info.get("successes", 1.0)) for r in timed]
    p95s = [float(r.info["p95_exec_s"]) for r in timed if r.info.get("p95_exec_s") is not None]
    return {
        "total_reward": base["total_reward"],
        # Weighted by requests: a busy window counts for more than an idle one.
        "throughput_pct": 100.0 * successes / requests if requests > 0 else math.nan,
        "mean_exec_s": float(np.average([r.obs["exec_time_s"] for r in timed], weights=weights)) if sum(weights) > 0 else math.nan,
        # The 95th percentile of the windows' p95 execution times.
        "p95_exec_s": float(np.percentile(p95s, 95)) if p95s else math.nan,
        "mean_replicas": base["mean_replicas"],
        "replica_seconds": base["replica_seconds"],
        "slo_violations": float(sum(slo.violated(r) for r in steps)),
        "settle_s": base["mean_settle_seconds"],
    }


def evaluate(
    policies: Sequence[str | Policy],
    make_env: Callable[[], FaaSEnv],
    *,
    seeds: Sequence[int],
    episodes: int,
    slo: SLO | None = None,
    progress: ProgressFn | None = None,
    make_vector_env: Callable[[int], FaaSVectorEnv] | None = None,
) -> Evaluation:
    """Run every policy on the same episodes (see the module docstring).

    ``policies`` are specs for :func:`make_policy` or ready policy objects (labelled by their
    ``name``). ``best-static`` first runs ``static:N`` for each N in the replica bounds. With
    ``make_vector_env`` (the simulator), each policy's episodes run at once on the vector
    simulator (:mod:`~faastrain_async.evaluation.vector`); otherwise one after another.
    """
    if not policies:
        raise ConfigError("no policy to evaluate; e.g. ['hpa', 'static:4']")
    plan = episode_seeds(seeds, episodes)
    env = make_env()
    try:
        settings = env.env.settings
        slo = slo or SLO(p95_seconds=settings.reward.slo_seconds)
        built: list[tuple[str, Policy]] = []
        for p in policies:
            built.append((p, make_policy(p, settings)) if isinstance(p, str) else (p.name, p))
        labels = [label for label, _ in built]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"a policy is listed twice: {', '.join(labels)}")
        hindsight = [p for _, p in built if isinstance(p, BestStaticPolicy)]
        candidates = sorted({n for p in hindsight for n in p.candidates})
        missing = [f"static:{n}" for n in candidates if f"static:{n}" not in labels]
        total = len(plan) * (len(built) - len(hindsight) + len(missing))
        done = 0

        def run(label: str, policy: Policy) -> list[EpisodeResult]:
            nonlocal done
            episodes: Iterable[list[StepRow]]
            if make_vector_env is not None:
                episodes = vector_episodes(make_vector_env, policy, plan)
            else:
                episodes = (run_episode(env, policy, world) for _, _, world in plan)
            out = []
            for (seed, e, world), rows in zip(plan, episodes):
                out.append(EpisodeResult(label, seed, e, world, episode_metrics(rows, settings.interval, slo), rows))
                done += 1
                if progress is not None:
                    progress(done, total, label)
            return out

        # The policies as listed; then the static counts a hindsight policy still needs.
        runs = {label: run(label, policy) for label, policy in built if not isinstance(policy, BestStaticPolicy)}
        runs.update({spec: run(spec, make_policy(spec, settings)) for spec in missing})
        chosen: dict[str, str] = {}
        results: list[EpisodeResult] = []
        for label, policy in built:
            if isinstance(policy, BestStaticPolicy):
                scores = {n: float(np.mean([r.metrics["total_reward"] for r in runs[f"static:{n}"]])) for n in policy.candidates}
                chosen[label] = f"static:{policy.choose(scores)}"
                # The chosen count's episodes are this policy's episodes: the same worlds.
                runs[label] = [EpisodeResult(label, r.seed, r.episode, r.world_seed, r.metrics, r.rows) for r in runs[chosen[label]]]
            results += runs[label]
        return Evaluation(policies=labels, results=results, interval=settings.interval, slo=slo, chosen=chosen)
    finally:
        env.close()


def scores_by_policy(evaluation: Evaluation, metric: str = "total_reward") -> dict[str, list[float]]:
    """``metric`` of every episode, by policy, in episode order."""
    if metric not in METRICS:
        raise ConfigError(f"metric {metric!r} is not known; known: {', '.join(METRICS)}")
    return {p: [r.metrics[metric] for r in evaluation.of(p)] for p in evaluation.policies}


def as_dict(result: EpisodeResult) -> dict[str, Any]:
    """An episode's identity and metrics (no rows), for CSV and JSON."""
    return {"policy": result.policy, "seed": result.seed, "episode": result.episode, "world_seed": result.world_seed, **result.metrics}
