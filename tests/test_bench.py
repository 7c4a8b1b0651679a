"""faastrain bench: the quick suite end to end (a real subprocess), bad names, a user's policy
class; and the rich observation, the same in the scalar and vector envs."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from faastrain_async import FaaSEnv
from faastrain_async.config import EnvSettings
from faastrain_async.env.spaces import OBSERVATION_FIELDS, RICH_FIELDS
from faastrain_async.env.vector_env import FaaSVectorEnv
from faastrain_async.errors import ConfigError
from faastrain_async.evaluation.bench import SUITES, TRAINING_SEEDS_BELOW
from faastrain_async.evaluation.leaderboard import score
from faastrain_async.policies import make_policy

ROOT = Path(__file__).resolve().parents[1]

USER_POLICY = '''
class ScaleTo:
    """Asks for `replicas` replicas (a delta action towards them)."""

    def __init__(self, settings, replicas="3"):
        self.settings, self.replicas = settings, int(replicas)

    def reset(self, seed=None):
        pass

    def act(self, obs, info):
        delta = max(-self.settings.max_delta, min(self.settings.max_delta, self.replicas - int(info["target"])))
        return self.settings.max_delta + delta
'''


def faastrain(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "faastrain_async.cli.main", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_quick_bench_writes_its_leaderboard_and_files(tmp_path: Path) -> None:
    (tmp_path / "mypolicies.py").write_text(USER_POLICY)
    out = tmp_path / "bench"
    done = faastrain("bench", "--quick", "--policy", "kpa", "--policy", "py:mypolicies:ScaleTo,replicas=4", "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    suite = SUITES["faastrain-v1-quick"]
    # The leaderboard: a block per scenario, the best static count named, the mean scores.
    for scenario in suite.scenarios:
        assert f"\n{scenario.name} " in done.stdout
    assert "best-static (static:" in done.stdout and "mean normalised score" in done.stdout
    assert {p.name for p in out.iterdir()} >= {"episodes.csv", "leaderboard.txt", "leaderboard.csv", "results.json", "scores.png", "rewards.png"}
    assert (out / "leaderboard.txt").read_text().strip() == done.stdout.strip()
    # Every policy (hpa first, the two given, the ten static counts) ran every episode of every scenario.
    episodes = list(csv.DictReader((out / "episodes.csv").open()))
    ranked = ["hpa", "kpa", "py:mypolicies:ScaleTo,replicas=4"]
    per_scenario = len(ranked) + 10
    assert len(episodes) == len(suite.scenarios) * per_scenario * len(suite.worlds)
    for scenario in suite.scenarios:
        worlds = {p: sorted(int(r["world_seed"]) for r in episodes if r["scenario"] == scenario.name and r["policy"] == p) for p in ranked}
        assert all(w == sorted(suite.worlds) for w in worlds.values())  # the same episodes for every policy
    # The user's class asked for 4 replicas: its mean replicas is that of static:4, episode by episode.
    mine = [float(r["mean_replicas"]) for r in episodes if r["policy"] == ranked[2]]
    static4 = [float(r["mean_replicas"]) for r in episodes if r["policy"] == "static:4"]
    assert mine == static4
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["policies"] == ranked and results["config"]["suite"]["name"] == suite.name
    board = {(row["scenario"], row["policy"]): row for row in results["leaderboard"]}
    for scenario in suite.scenarios:
        hpa, best = board[(scenario.name, "hpa")], board[(scenario.name, "best-static")]
        assert hpa["score"] == 0.0 and best["score"] == 1.0
        assert best["chosen"] == results["best_static"][scenario.name]
        # The best static count is the best of the ten, by mean total reward.
        means = {
            n: np.mean([float(r["total_reward"]) for r in episodes if r["scenario"] == scenario.name and r["policy"] == f"static:{n}"])
            for n in range(1, 11)
        }
        assert best["mean"] == pytest.approx(max(means.values()))
        kpa = board[(scenario.name, "kpa")]
        assert kpa["score"] == pytest.approx(score(kpa["mean"], hpa["mean"], best["mean"]))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--scenario", "nosuch"], "unknown scenario 'nosuch' in suite faastrain-v1-quick; its scenarios: sine, flash, onoff"),
        (["--policy", "hpaa"], "unknown policy 'hpaa'"),
        (["--policy", "py:nosuchmodule:Policy"], "cannot import module 'nosuchmodule'"),
        (["--suite", "faastrain-v9"], "unknown suite 'faastrain-v9'; known: faastrain-v1, faastrain-v1-quick"),
    ],
)
def test_a_bad_scenario_or_policy_name_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "bench"
    suite = [] if "--suite" in args else ["--quick"]
    done = faastrain("bench", *suite, *args, "--out", str(out), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("faastrain: error: ") and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not out.exists()  # checked before anything was written


def test_a_user_policy_class_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "userpolicies.py").write_text(USER_POLICY)
    monkeypatch.syspath_prepend(str(tmp_path))
    settings = EnvSettings()
    for spec in ("py:userpolicies:ScaleTo,replicas=7", "userpolicies:ScaleTo,replicas=7"):
        policy = make_policy(spec, settings)
        assert policy.name == spec
        assert policy.act(np.zeros(6), {"target": 1}) == settings.max_delta + 5  # +5: the most one step moves
        assert policy.act(np.zeros(6), {"target": 6}) == settings.max_delta + 1
    with pytest.raises(ConfigError, match="module 'userpolicies' has no class 'Nope'"):
        make_policy("py:userpolicies:Nope", settings)
    with pytest.raises(ConfigError, match="could not be built with options"):
        make_policy("py:userpolicies:ScaleTo,size=3", settings)


def test_the_suites_worlds_are_not_training_worlds() -> None:
    for suite in SUITES.values():
        assert len(set(suite.worlds)) == len(suite.seeds) * suite.episodes
        assert min(suite.worlds) >= TRAINING_SEEDS_BELOW


@pytest.mark.parametrize(
    "sim, interval, settle_timeout",
    [
        # Settled steps: no replica in flight at the windows' ends.
        ({"cold_start_cv": 0, "termination_cv": 0, "service_time_cv": 0}, 30.0, 120.0),
        # Cold starts and drains longer than the settle timeout: pending and terminating replicas show.
        ({"cold_start": 15, "cold_start_cv": 0, "termination": 15, "termination_cv": 0, "grace_period": 20, "service_time_cv": 0}, 10.0, 1.0),
    ],
)
def test_the_rich_observation_is_the_same_in_the_scalar_and_vector_envs(sim: dict[str, float], interval: float, settle_timeout: float) -> None:
    kw = dict(observation="rich", profile="constant:rate=20", episode_steps=12, interval=interval, settle_timeout=settle_timeout, sim=sim)
    actions = [8, 5, 3, 5, 9, 0, 5, 7, 10, 0, 5, 6]
    scalar, vector = FaaSEnv(**kw), FaaSVectorEnv(1, **kw)
    try:
        assert scalar.observation_space == vector.single_observation_space
        assert scalar.observation_space.shape == (len(OBSERVATION_FIELDS) + len(RICH_FIELDS),)
        a, b = [scalar.reset(seed=5)[0]], [vector.reset(seed=5)[0][0]]
        for action in actions:
            a.append(scalar.step(action)[0])
            b.append(vector.step(np.array([action]))[0][0])
    finally:
        scalar.close()
        vector.close()
    one, other = np.array(a), np.array(b)
    column = {name: 6 + i for i, name in enumerate(RICH_FIELDS)}
    # Replica states and timings come from the same actions and fixed timings: equal.
    for name in ("target", "pending", "terminating", "settle_s", "since_scaling_s", "p95_exec_s"):
        np.testing.assert_allclose(one[:, column[name]], other[:, column[name]], rtol=1e-5, atol=1e-5, err_msg=name)
    if settle_timeout < 15:
        assert one[:, column["pending"]].max() > 0 and one[:, column["terminating"]].max() > 0
    # The rates are each env's own earlier windows (its arrivals are its own draws) ...
    for obs in (one, other):
        rates = obs[:, OBSERVATION_FIELDS.index("requests")] / interval
        np.testing.assert_allclose(obs[1:, column["rate_prev1_rps"]], rates[:-1], rtol=1e-5)
        np.testing.assert_allclose(obs[3:, column["rate_prev3_rps"]], rates[:-3], rtol=1e-5)
        assert (obs[0, [column[f"rate_prev{k}_rps"] for k in (1, 2, 3)]] == obs[0, column["rate_prev1_rps"]]).all()
        # ... of the same workload: 20 req/s on average.
        assert np.mean(rates) == pytest.approx(20, rel=0.1)


def test_the_default_observation_is_the_six_columns() -> None:
    env = FaaSEnv()
    try:
        assert env.observation_space.shape == (6,) and env.reset(seed=0)[0].shape == (6,)
    finally:
        env.close()
    with pytest.raises(ConfigError, match="observation='full' is not valid: must be one of default, rich"):
        FaaSEnv(observation="full")


def test_a_model_trained_on_the_rich_observation_acts_on_it_and_refuses_the_default(tmp_path: Path) -> None:
    pytest.importorskip("stable_baselines3")
    from faastrain_async.training.model_policy import ModelPolicy
    from faastrain_async.training.trainer import TrainConfig, train

    def rich() -> FaaSEnv:
        return FaaSEnv(observation="rich", profile="mix:sine|flash", world="new")

    result = train(TrainConfig(timesteps=256, n_envs=2, eval_every=0, save=tmp_path / "m"), rich)
    env = rich()
    try:
        policy = make_policy(f"model:{result.model_path}", env.env.settings)
        assert isinstance(policy, ModelPolicy) and policy.encoder.size == 2 * (7 + len(RICH_FIELDS))
        obs, info = env.reset(seed=3)
        assert 0 <= policy.act(obs, info) < env.action_space.n
    finally:
        env.close()
    with pytest.raises(ConfigError, match="trained with observation='rich'; evaluate it on such an env"):
        make_policy(f"model:{result.model_path}", EnvSettings())


def test_the_vector_envs_autoreset_starts_the_rich_history_again() -> None:
    for mode in ("NextStep", "SameStep"):
        env = FaaSVectorEnv(3, observation="rich", episode_steps=2, autoreset_mode=mode)
        try:
            env.reset(seed=0)
            up = np.full(3, 7)  # +2 every step
            env.step(up)
            obs, _, _, truncated, info = env.step(up)
            assert truncated.all()
            if mode == "NextStep":
                obs, _, _, _, info = env.step(up)  # the autoreset step
            lags = obs[:, 6:9]
            rate = obs[:, OBSERVATION_FIELDS.index("requests")] / env.settings.interval
            # A reset: no earlier window, so every lag is this window's rate; the reset's scaling is the last.
            np.testing.assert_allclose(lags, np.repeat(rate[:, None], 3, axis=1), rtol=1e-5)
            since, settle = (obs[:, 6 + RICH_FIELDS.index(name)] for name in ("since_scaling_s", "settle_s"))
            np.testing.assert_allclose(since, env.settings.interval + settle, rtol=1e-5)
            assert (obs[:, 6 + RICH_FIELDS.index("target")] == env.settings.initial_replicas).all()
        finally:
            env.close()
