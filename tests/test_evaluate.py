"""``faastrain evaluate`` and the evaluation harness: outputs, determinism, policy lists, statistics."""

from __future__ import annotations

import collections
import csv
import json
import math
from pathlib import Path

import pytest

from faastrain_async.cli.evaluate import parse_seeds
from faastrain_async.cli.main import main
from faastrain_async.env.gym_env import FaaSEnv
from faastrain_async.errors import ConfigError
from faastrain_async.evaluation import aggregate, episode_seeds, evaluate, split_policies, t_critical
from faastrain_async.evaluation.report import table

ENV_ARGS = ["--profile", "sine:period=300,low=2,high=30", "--episode-steps", "8"]


def run_cli(out: Path, *extra: str) -> int:
    return main(["evaluate", "--policies", "hpa,static:4", "--seeds", "0,1", "--episodes", "2", "--out", str(out), "--quiet", *ENV_ARGS, *extra])


def test_evaluate_writes_table_csv_and_json_and_is_deterministic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(tmp_path / "a", "--no-plots") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["policy", "reward", "thr"]
    assert any(line.startswith("hpa ") for line in out.splitlines())
    assert any(line.startswith("static:4 ") for line in out.splitlines())
    assert "95% CI over 4 episodes" in out
    for name in ("episodes.csv", "summary.csv", "steps.csv", "results.json"):
        assert (tmp_path / "a" / name).stat().st_size > 0
    assert not (tmp_path / "a" / "timeline.png").exists()
    with (tmp_path / "a" / "episodes.csv").open() as f:
        episodes = list(csv.DictReader(f))
    assert [(e["policy"], e["seed"], e["episode"]) for e in episodes] == [
        (p, s, e) for p in ("hpa", "static:4") for s in ("0", "1") for e in ("0", "1")
    ]
    # Every policy faced the same world in the same episode.
    assert [e["world_seed"] for e in episodes[:4]] == [e["world_seed"] for e in episodes[4:]]
    # steps.csv joins episodes.csv on (policy, seed, episode): a reset row and 8 steps each.
    with (tmp_path / "a" / "steps.csv").open() as f:
        steps = list(csv.DictReader(f))
    per_episode = collections.Counter((s["policy"], s["seed"], s["episode"]) for s in steps)
    assert per_episode == {(e["policy"], e["seed"], e["episode"]): 1 + 8 for e in episodes}
    first = [s for s in steps if (s["policy"], s["seed"], s["episode"]) == ("static:4", "1", "1")]
    assert [s["step"] for s in first] == [str(n) for n in range(9)]
    results = json.loads((tmp_path / "a" / "results.json").read_text())
    assert set(results["aggregates"]) == {"hpa", "static:4"}
    assert results["aggregates"]["static:4"]["mean_replicas"]["n"] == 4

    assert run_cli(tmp_path / "b", "--no-plots") == 0
    for name in ("episodes.csv", "summary.csv", "steps.csv"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text(), name


def test_evaluate_writes_png_plots(tmp_path: Path) -> None:
    from faastrain_async.evaluation.plots import timeline

    assert run_cli(tmp_path) == 0
    for name in ("timeline.png", "aggregates.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ev = evaluate(["hpa", "kpa"], lambda: FaaSEnv("sim", episode_steps=4), seeds=[0], episodes=1)
    assert timeline(ev, tmp_path / "t.png", policies=["kpa"], max_steps=2).stat().st_size > 0
    with pytest.raises(ConfigError, match="'nope'"):
        timeline(ev, tmp_path / "u.png", policies=["nope"])


def test_same_load_for_every_policy_in_an_episode() -> None:
    def make() -> FaaSEnv:
        return FaaSEnv("sim", profile="sine:period=300,low=2,high=30", episode_steps=6)

    ev = evaluate(["static:2", "static:9"], make, seeds=[3], episodes=1)
    low, high = (ev.of(p)[0].rows for p in ("static:2", "static:9"))
    # The same world until the policies act; later windows start when each policy's scaling
    # has settled, so they shift by a few seconds and see a slightly different slice of it.
    assert low[0].obs == high[0].obs and low[0].info == high[0].info
    assert ev.of("static:9")[0].metrics["throughput_pct"] > ev.of("static:2")[0].metrics["throughput_pct"]


def test_best_static_is_the_static_count_with_the_highest_mean_reward() -> None:
    def make() -> FaaSEnv:
        return FaaSEnv("sim", profile="constant:rate=18", episode_steps=5, reward="normalized")

    ev = evaluate(["best-static", "static:3"], make, seeds=[0], episodes=2)
    statics = evaluate([f"static:{n}" for n in range(1, 11)], make, seeds=[0], episodes=2)
    means = {p: sum(r.metrics["total_reward"] for r in statics.of(p)) / 2 for p in statics.policies}
    best = max(means, key=lambda p: means[p])
    assert ev.chosen == {"best-static": best}
    assert [r.metrics for r in ev.of("best-static")] == [r.metrics for r in statics.of(best)]
    assert f"best-static ({best})" in table(ev)


def test_split_policies_keeps_options_with_their_policy() -> None:
    assert split_policies("hpa,kpa,openfaas,static:4,model:runs/ppo.zip") == ["hpa", "kpa", "openfaas", "static:4", "model:runs/ppo.zip"]
    assert split_policies("hpa:target=0.6,tolerance=0.05,kpa;static:4") == ["hpa:target=0.6,tolerance=0.05", "kpa", "static:4"]
    assert split_policies(["hpa", "kpa:target=1"]) == ["hpa", "kpa:target=1"]
    with pytest.raises(ConfigError, match="follows no policy"):
        split_policies("target=0.6,hpa")
    with pytest.raises(ConfigError, match="no policy"):
        split_policies(" , ;")


def test_bad_input_is_named() -> None:
    with pytest.raises(ConfigError, match="unknown policy 'nope'"):
        evaluate(["nope"], lambda: FaaSEnv("sim"), seeds=[0], episodes=1)
    with pytest.raises(ConfigError, match="listed twice"):
        evaluate(["hpa", "hpa"], lambda: FaaSEnv("sim"), seeds=[0], episodes=1)
    with pytest.raises(ConfigError, match="episodes=0"):
        episode_seeds([0], 0)
    with pytest.raises(ConfigError, match="'x'"):
        parse_seeds(["1,x"])
    assert parse_seeds(["0-2", "5"]) == [0, 1, 2, 5]


def test_confidence_intervals() -> None:
    assert t_critical(1) == pytest.approx(12.706, abs=1e-3)
    assert t_critical(60) == pytest.approx(2.0003, abs=1e-3)
    s = aggregate([1.0, 2.0, 3.0, math.nan])  # a NaN is an episode without the measurement
    assert s.n == 3 and s.mean == pytest.approx(2.0)
    assert s.ci95 == pytest.approx(4.303 * 1.0 / math.sqrt(3), rel=1e-4)
    assert math.isnan(aggregate([5.0]).ci95) and aggregate([]).n == 0


def test_progress_lines_on_a_stream_that_is_not_a_terminal() -> None:
    import io

    from faastrain_async.evaluation.report import Progress

    stream = io.StringIO()
    evaluate(["hpa", "kpa", "static:2"], lambda: FaaSEnv("sim", episode_steps=4), seeds=[0], episodes=2, progress=Progress(stream))
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("evaluate: 1/6 episodes") and lines[-1].startswith("evaluate: 6/6 episodes (100%)")
