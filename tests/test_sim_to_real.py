"""The sim-to-real comparison's arithmetic: relative errors per window, medians, Kendall's tau."""

from __future__ import annotations

import math

import numpy as np
import pytest

from faastrain_async.calibration.compare import Case, World, kendall_tau, median_errors, ranking_tau, relative_errors, sim_world
from faastrain_async.config import EnvSettings
from faastrain_async.errors import ConfigError
from faastrain_async.policies import make_policy

OTHERS = ("requests", "throughput_pct", "exec_mean_s", "exec_p95_s", "cpu_util", "mem_util", "settle_s")


def world(name: str, rewards: dict[str, float], replicas: list[float]) -> World:
    w = World(name)
    for policy, reward in rewards.items():
        case = Case("constant:rate=10", policy, 0)
        w.rewards[case] = reward
        w.windows[case] = [{**dict.fromkeys(OTHERS, 1.0), "replicas": r} for r in replicas]
    return w


def test_kendall_tau_of_hand_made_rankings() -> None:
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau([1, 2, 3, 4], [40, 30, 20, 10]) == -1.0
    assert kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)  # 2 concordant pairs, 1 discordant
    assert math.isnan(kendall_tau([1, 1], [2, 2]))


def test_relative_errors_are_per_window_with_a_floor_and_skip_missing_measurements() -> None:
    real = world("cluster", {"static:2": 5.0, "hpa": 3.0}, [2.0, 4.0, 0.0])
    sim = world("sim", {"static:2": 6.0, "hpa": 1.0}, [2.0, 5.0, 0.5])
    case = next(iter(sim.windows))
    sim.windows[case][0]["exec_mean_s"] = None  # nothing served in the sim's first window
    # replicas: |2-2|/2, |5-4|/4, |0.5-0|/max(0, floor 1) for both cases
    assert relative_errors(sim, real, "replicas") == [0.0, 0.25, 0.5, 0.0, 0.25, 0.5]
    assert len(relative_errors(sim, real, "exec_mean_s")) == 5
    assert median_errors(sim, real)["replicas"] == 0.25
    assert ranking_tau(sim, real) == {"constant:rate=10": 1.0, "all": 1.0}


def test_the_scripted_policy_repeats_its_deltas_and_a_simulated_world_runs_every_case() -> None:
    settings = EnvSettings()
    policy = make_policy("script:deltas=2/-1", settings)
    obs = np.zeros(6, dtype=np.float32)
    assert [policy.act(obs, {"target": t}) - settings.max_delta for t in (1, 3, 2, 4)] == [2, -1, 2, -1]
    with pytest.raises(ConfigError, match="deltas='2/x'"):
        make_policy("script:deltas=2/x", settings)
    cases = [Case("constant:rate=10", "static:2", 0), Case("constant:rate=10", "script:deltas=1", 0)]
    w = sim_world("sim", {}, cases, steps=4, interval=10.0)
    assert [len(w.windows[c]) for c in cases] == [4, 4]
    assert [round(v["replicas"]) for v in w.windows[cases[1]]] == [2, 3, 4, 5]
