"""Built-in policies and the ``faastrain run`` command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from faastrain_async.cli.main import main
from faastrain_async.config import EnvSettings
from faastrain_async.errors import ConfigError
from faastrain_async.policies import make_policy


def obs(replicas: float, cpu: float) -> np.ndarray:
    return np.array([0.2, 100.0, 100.0, replicas, cpu, 0.3], dtype=np.float32)


def test_threshold_is_the_hpa_rule() -> None:
    settings = EnvSettings()
    policy = make_policy("threshold:target=0.5", settings)
    noop = settings.max_delta
    # ceil(4 * 0.9 / 0.5) = 8: +4
    assert policy.act(obs(4, 0.9), {"target": 4}) == noop + 4
    # within the 10 % tolerance: no change
    assert policy.act(obs(4, 0.54), {"target": 4}) == noop
    # ceil(4 * 0.2 / 0.5) = 2: -2
    assert policy.act(obs(4, 0.2), {"target": 4}) == noop - 2
    # clamped to max_replicas and to one action's reach (+5)
    assert policy.act(obs(3, 5.0), {"target": 3}) == noop + 5


def test_threshold_in_updown_mode_moves_one_step_towards_the_desired_count() -> None:
    settings = EnvSettings(action_mode="updown")
    policy = make_policy("threshold", settings)
    assert policy.act(obs(2, 1.0), {"target": 2}) == 1
    assert policy.act(obs(6, 0.1), {"target": 6}) == 0


def test_random_is_repeatable_with_a_seed_and_hold_never_scales() -> None:
    settings = EnvSettings()
    a, b = make_policy("random", settings), make_policy("random", settings)
    a.reset(3)
    b.reset(3)
    assert [a.act(obs(1, 0), {}) for _ in range(20)] == [b.act(obs(1, 0), {}) for _ in range(20)]
    assert make_policy("hold", settings).act(obs(1, 0), {}) == settings.max_delta


@pytest.mark.parametrize(
    ("spec", "settings", "message"),
    [
        ("magic", EnvSettings(), "unknown policy 'magic'.*threshold"),
        ("threshold:target=-1", EnvSettings(), "target=-1.0 must be > 0"),
        ("threshold:target=high", EnvSettings(), "target='high' is not a number"),
        ("threshold:window=3", EnvSettings(), "unknown option.*window"),
        ("hold", EnvSettings(action_mode="updown"), "hold needs a no-op action"),
    ],
)
def test_bad_policy_specs(spec: str, settings: EnvSettings, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_policy(spec, settings)


def test_run_writes_every_step_and_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["run", "--policy", "threshold", "--steps", "25", "--seed", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("target") == 25 + 3  # a line per step and per reset (3 episodes)
    rows = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    assert len([r for r in rows if r["action"] is not None]) == 25
    assert set(rows[1]["obs"]) == {"exec_time_s", "throughput_pct", "requests", "replicas", "cpu_util", "mem_util"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 25 and summary["episodes"] == 3
    assert summary["total_reward"] == pytest.approx(sum(r["reward"] for r in rows if r["reward"] is not None))


def test_run_is_deterministic_and_writes_csv(tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert main(["run", "--policy", "random", "--steps", "300", "--seed", "1", "--format", "csv", "--out", str(tmp_path / name)]) == 0
    a, b = ((tmp_path / n / "steps.csv").read_text() for n in ("a", "b"))
    assert a == b and a.startswith("episode,step,action,reward,terminated,truncated,exec_time_s")


def test_run_reports_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--profile", "sine:period=10"]) == 2
    assert "missing low=, high=" in capsys.readouterr().err
    assert main(["run", "--sim", "cold_start=-1"]) == 2
    assert "cold_start=-1" in capsys.readouterr().err
    assert main(["run", "--steps", "0"]) == 2
