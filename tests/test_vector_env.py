"""The vector simulator: Gymnasium's vector-env contract, seeding, errors, and that it is
statistically the same model as the scalar simulator."""

from __future__ import annotations

import math
from typing import Any

import gymnasium
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import faastrain_async  # noqa: F401  (registers the id)
from faastrain_async import FaaSEnv
from faastrain_async.env.vector_env import FaaSVectorEnv
from faastrain_async.errors import ConfigError, ResetNeeded

REJECT = {"overload": "reject", "concurrency": 2}
QUEUE = {"overload": "queue"}


def make(n: int, **kwargs: Any) -> FaaSVectorEnv:
    env = gymnasium.make_vec("FaaSTrainGym-v1", num_envs=n, vectorization_mode="vector_entry_point", **kwargs)
    assert isinstance(env, FaaSVectorEnv)
    return env


def rollout(env: FaaSVectorEnv, seed: int, steps: int) -> list[np.ndarray]:
    out = [env.reset(seed=seed)[0]]
    actions = np.random.default_rng(seed).integers(0, env.single_action_space.n, (steps, env.num_envs))
    for a in actions:
        obs, reward, terminated, truncated, _ = env.step(a)
        out += [obs, reward, terminated, truncated]
    return out


def test_spaces_dtypes_and_the_declared_autoreset_mode() -> None:
    env = make(5, sim=REJECT)
    assert env.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    assert env.single_action_space == FaaSEnv().action_space
    assert env.action_space.shape == (5,) and env.observation_space.shape == (5, 6)
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs.shape == (5, 6) and env.observation_space.contains(obs)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert env.observation_space.contains(obs)
    assert reward.shape == (5,) and reward.dtype == np.float64
    assert terminated.dtype == truncated.dtype == np.bool_
    assert all(np.shape(v) == (5,) for v in info.values())  # a dict of arrays, one entry per env


def test_autoreset_on_the_next_step_scales_back_and_continues_the_world() -> None:
    env = make(3, sim=REJECT, episode_steps=2)
    env.reset(seed=1)
    up = np.full(3, 10)  # +5
    env.step(up)
    _, _, _, truncated, info = env.step(up)
    assert truncated.all() and (info["target"] == 11 - 1).all()
    t_end = info["t_settled"] + env.settings.interval
    obs, reward, terminated, truncated, info = env.step(up)  # the autoreset step: the action is ignored
    assert (reward == 0).all() and not terminated.any() and not truncated.any()
    assert (info["target"] == 1).all() and (obs[:, 3] == 1).all() and (info["step"] == 0).all()
    assert (info["t_action"] == t_end).all()  # the world went on
    _, _, _, _, info = env.step(np.full(3, 5))
    assert (info["step"] == 1).all()


def test_same_seeds_same_batch_trajectories_different_seeds_differ() -> None:
    for sim in (REJECT, QUEUE):
        a = rollout(make(8, sim=sim), seed=3, steps=25)
        b = rollout(make(8, sim=sim), seed=3, steps=25)
        c = rollout(make(8, sim=sim), seed=4, steps=25)
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
        assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    # A list of seeds, one per environment, is the same as the integer that counts them out.
    env = make(3, sim=REJECT)
    first = env.reset(seed=[5, 6, 7])[0]
    assert np.array_equal(first, env.reset(seed=5)[0])


@pytest.mark.parametrize(
    "n, message", [(0, "num_envs=0"), (-3, "num_envs=-3"), (2.5, "num_envs=2.5"), (True, "num_envs=True")]
)
def test_a_bad_number_of_envs_is_refused(n: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        FaaSVectorEnv(n)


def test_bad_seeds_and_actions_get_clear_errors() -> None:
    env = FaaSVectorEnv(4, sim=REJECT)
    with pytest.raises(ResetNeeded):
        env.step(np.zeros(4, dtype=int))
    for seed in (-1, [1, 2], [1, 2, 3, -4], "7", [1.5, 2, 3, 4]):
        with pytest.raises(ConfigError, match="seed="):
            env.reset(seed=seed)  # type: ignore[arg-type]
    env.reset(seed=0)
    for actions, message in (
        (np.zeros(3, dtype=int), r"shape \(3,\)"),
        (np.zeros((4, 1), dtype=int), r"shape \(4, 1\)"),
        (np.zeros(4), "dtype float64"),
        (np.array([0, 1, 11, 2]), "action 11 is outside"),
        (np.array([0, -1, 1, 2]), "action -1 is outside"),
    ):
        with pytest.raises(ConfigError, match=message):
            env.step(actions)
    with pytest.raises(ConfigError, match="backend='kubernetes'"):
        FaaSVectorEnv(2, backend="kubernetes")
    with pytest.raises(ConfigError, match="time_scale"):
        FaaSVectorEnv(2, sim={"time_scale": 10.0})


# -- the same model as the scalar simulator ------------------------------------------------------

WORLDS, STEPS = 200, 20  # 4,000 windows per metric and simulator
METRICS = ("exec_time_s", "throughput_pct", "requests", "replicas", "cpu_util", "mem_util")


def ks_pvalue(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov test: the asymptotic p-value of the largest gap between the
    empirical distributions (Kolmogorov's series)."""
    both = np.sort(np.concatenate([x, y]))
    gap = np.max(np.abs(np.searchsorted(np.sort(x), both, "right") / len(x) - np.searchsorted(np.sort(y), both, "right") / len(y)))
    n = len(x) * len(y) / (len(x) + len(y))
    lam = (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n)) * gap
    if lam < 0.3:  # the series converges slowly there; its value is 1 to five places
        return 1.0
    return float(min(1.0, max(0.0, 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101)))))


def windows(sim: dict[str, Any], profile: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-window observations and settle times of both simulators: the same actions and the
    same world seeds (so the replica counts and the workloads drawn agree), different draws."""
    actions = np.random.default_rng(123).integers(0, 11, (WORLDS, STEPS))
    scalar = []
    for w in range(WORLDS):
        env = FaaSEnv(sim=sim, profile=profile)
        env.reset(seed=10_000 + w)  # the vector env's world w below
        for k in range(STEPS):
            obs, _, _, truncated, info = env.step(int(actions[w, k]))
            scalar.append([*obs, info["settle_seconds"]])
            if truncated:
                env.reset()
        env.close()
    vector, env, k = [], make(WORLDS, sim=sim, profile=profile), 0
    env.reset(seed=10_000)
    ended = False
    while k < STEPS:
        obs, _, _, truncated, info = env.step(np.zeros(WORLDS, dtype=int) if ended else actions[:, k])
        if not ended:  # the autoreset step is the scalar env's reset
            vector += [[*obs[i], info["settle_seconds"][i]] for i in range(WORLDS)]
            k += 1
        ended = bool(truncated.any())
    return np.asarray(scalar), np.asarray(vector)


@pytest.mark.parametrize(
    "sim, profile",
    [
        (REJECT, "sine:period=600,low=2,high=40"),
        ({**REJECT, "cores": 1.0, "cpu_per_request": 0.03, "idle_cpu": 0.01, "concurrency": 4}, "square:period=120,low=2,high=60"),
        (QUEUE, "sine:period=600,low=2,high=40"),
        (REJECT, "mix:sine|flash|onoff"),
    ],
    ids=["reject", "reject-shared-cores", "queue", "reject-mixed-workloads"],
)
def test_the_vector_and_scalar_simulators_give_the_same_distributions(sim: dict[str, Any], profile: str) -> None:
    scalar, vector = windows(sim, profile)
    assert len(scalar) == len(vector) >= 4000
    for j, name in enumerate(METRICS + ("settle_seconds",)):
        x, y = scalar[:, j], vector[:, j]
        assert y.mean() == pytest.approx(x.mean(), rel=0.02), name
        # 28 comparisons in all: at 0.001 each, the family's false-alarm rate is about 3%.
        assert ks_pvalue(x, y) > 0.001, name


def test_same_step_autoreset_returns_the_reset_observation_and_keeps_the_last_one() -> None:
    env = make(3, sim=REJECT, episode_steps=2, autoreset_mode="SameStep")
    assert env.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    env.reset(seed=2)
    up = np.full(3, 10)
    obs, _, _, truncated, info = env.step(up)
    assert not truncated.any() and not info["_final_obs"].any()
    obs, reward, _, truncated, info = env.step(up)
    assert truncated.all() and info["_final_obs"].all()
    assert (info["final_obs"][:, 3] == 10).all() and (info["final_info"]["target"] == 10).all()
    assert (obs[:, 3] == 1).all() and (info["target"] == 1).all() and (info["step"] == 0).all()
    assert (reward != 0).all()  # the ending step's reward, not a reset's
    _, _, _, truncated, info = env.step(np.full(3, 5))  # a normal step of the new episode
    assert not truncated.any() and (info["step"] == 1).all()
    with pytest.raises(ConfigError, match="autoreset_mode='partial'"):
        FaaSVectorEnv(2, autoreset_mode="partial")


def test_an_evaluation_on_the_vector_simulator_matches_the_scalar_one() -> None:
    from faastrain_async.evaluation import evaluate
    from faastrain_async.evaluation.harness import METRICS

    kwargs = dict(sim=REJECT, profile="sine:period=600,low=2,high=40")
    policies = ["hpa", "static:4", "threshold"]
    scalar = evaluate(policies, lambda: FaaSEnv(**kwargs), seeds=list(range(30)), episodes=2)
    vector = evaluate(
        policies, lambda: FaaSEnv(**kwargs), seeds=list(range(30)), episodes=2,
        make_vector_env=lambda n: FaaSVectorEnv(n, **kwargs),  # type: ignore[arg-type]
    )  # fmt: skip
    for policy in policies:
        a, b = scalar.of(policy), vector.of(policy)
        assert [(r.seed, r.episode, len(r.rows)) for r in a] == [(r.seed, r.episode, len(r.rows)) for r in b]
        assert [r.rows[0].step for r in b] == [0] * len(b) and b[0].rows[-1].truncated
        for metric in ("total_reward", "throughput_pct", "mean_replicas", "mean_exec_s"):
            mean = lambda results: float(np.mean([r.metrics[metric] for r in results]))  # noqa: E731
            assert mean(b) == pytest.approx(mean(a), rel=0.05), (policy, metric)
    assert set(METRICS) <= set(vector.results[0].metrics)


def test_world_new_starts_a_new_world_at_every_reset_in_both_simulators() -> None:
    scalar = FaaSEnv(sim=REJECT, world="new", episode_steps=2)
    scalar.reset(seed=0)
    scalar.step(5)
    scalar.step(5)
    _, info = scalar.reset()
    assert info["t_action"] == 0.0  # a new world: its clock starts again
    vector = make(2, sim=REJECT, world="new", episode_steps=2)
    vector.reset(seed=0)
    vector.step(np.full(2, 5))
    vector.step(np.full(2, 5))
    _, _, _, _, info = vector.step(np.full(2, 5))  # the autoreset step
    assert (info["t_action"] == 0.0).all()
    continuing = make(2, sim=REJECT, episode_steps=2)
    continuing.reset(seed=0)
    for _ in range(3):
        _, _, _, _, info = continuing.step(np.full(2, 5))
    assert (info["t_action"] > 0.0).all()


def test_a_ranged_or_mixed_workload_draws_each_worlds_profile_from_its_seed() -> None:
    spec = "sine:period=300..900,low=1..5,high=20..60"
    vector = make(4, sim=REJECT, profile=spec)
    _, info = vector.reset(seed=40)
    for i in range(4):  # environment i begins from world seed 40 + i, as a scalar env seeded so would
        scalar = FaaSEnv(sim=REJECT, profile=spec)
        _, first = scalar.reset(seed=40 + i)
        assert info["load_intended_rps"][i] == pytest.approx(first["load_intended_rps"], rel=1e-9)
        scalar.close()
    assert len(set(np.round(info["load_intended_rps"], 6))) == 4  # four different draws
    # world="new": every autoreset draws a new profile for the world that restarts.
    env = make(64, sim=REJECT, profile="mix:sine|flash|onoff|azure", world="new", episode_steps=1)
    env.reset(seed=1)
    first = env.profiles.rate(np.zeros((64, 1)) + 30.0).ravel()  # type: ignore[union-attr]
    env.step(np.full(64, 5))
    env.step(np.full(64, 5))  # the autoreset step
    assert not np.allclose(env.profiles.rate(np.zeros((64, 1)) + 30.0).ravel(), first)  # type: ignore[union-attr]
