"""``faastrain calibrate``: a quick calibration of the local cluster feeds the simulator (slow),
and the command's one-line errors."""

from __future__ import annotations

from pathlib import Path

import gymnasium
import psutil
import pytest

import faastrain_async  # noqa: F401  (registers the env)
from faastrain_async.calibration import read_calibration
from faastrain_async.calibration.compare import UNCALIBRATED, Case, local_cluster_world, median_errors, sim_world
from faastrain_async.cli.main import main


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_where_the_function_runs_must_be_said(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert main(["calibrate", "--out", str(tmp_path / "c.json")]) == 2
    assert "--local-cluster, or --kube KEY=VALUE" in one_error_line(capsys)
    assert main(["calibrate", "--local-cluster", "--state-dir", str(tmp_path), "--out", str(tmp_path / "c.json")]) == 2
    assert "no local cluster runs there" in one_error_line(capsys)
    assert main(["calibrate", "--state-dir", str(tmp_path), "--out", str(tmp_path / "c.json")]) == 2
    assert "it needs --local-cluster" in one_error_line(capsys)
    assert main(["calibrate", "--local-cluster", "--out", str(tmp_path)]) == 2
    assert "is a directory" in one_error_line(capsys)
    assert main(["calibrate", "--local-cluster", "--function", "Bad_Name", "--out", str(tmp_path / "c.json")]) == 2
    assert "function='Bad_Name'" in one_error_line(capsys)
    assert not (tmp_path / "c.json").exists()


@pytest.mark.slow
def test_a_quick_calibration_of_the_local_cluster_feeds_the_simulator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # no running cluster there: a private one
    out = tmp_path / "api.json"
    assert main(["calibrate", "--local-cluster", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for line in ("probe: 30 requests", "R=1 offered", "R=2: capacity", "scale 1 -> 2 -> 1", f"wrote {out}"):
        assert line in printed
    calibration = read_calibration(out)
    p = {name: parameter.value for name, parameter in calibration.parameters.items()}
    # The local cluster's api: a 0.15-0.25 s wait and a little CPU, two in flight, 429 past them.
    assert (p["concurrency"], p["overload"]) == (2, "reject")
    assert 0.15 <= p["service_time"] <= 0.4 and 3.0 <= p["replica_rate"] <= 15.0
    assert 0.0 < p["cpu_per_request"] < 0.05 and 20.0 < p["mem_base_mib"] < 128.0
    assert 0.0 < p["cold_start"] < 20.0 and 0.0 < p["termination"] < 6.0
    assert (p["cpu_request"], p["mem_request_mib"], p["grace_period"]) == (0.1, 128.0, 5.0)
    assert calibration.source["cluster"] == "local" and calibration.source["function"] == "api"
    assert calibration.source["command"].endswith("--quick") and calibration.source["duration_s"] > 0
    assert [c for c in psutil.Process().children(recursive=True) if c.status() != psutil.STATUS_ZOMBIE] == []

    env = gymnasium.make("FaaSTrainGym-v1", sim={"calibration": str(out)})
    try:
        env.reset(seed=0)
        for _ in range(5):
            obs, *_ = env.step(env.action_space.sample())
        assert env.unwrapped.env.backend.settings.service_time == p["service_time"]
    finally:
        env.close()

    # A short sim-to-real comparison: the calibrated simulator is closer to the cluster than the
    # uncalibrated one on throughput and execution time.
    cases = [Case("sine:period=600,low=2,high=40", "script:deltas=2/-1/1/-2", 0)]
    cluster = local_cluster_world(cases, steps=5, interval=5.0)
    calibrated = median_errors(sim_world("calibrated", {"calibration": str(out)}, cases, 5, 5.0), cluster)
    uncalibrated = median_errors(sim_world("uncalibrated", UNCALIBRATED, cases, 5, 5.0), cluster)
    for metric in ("throughput_pct", "exec_mean_s"):
        assert calibrated[metric] < uncalibrated[metric], (metric, calibrated, uncalibrated)
