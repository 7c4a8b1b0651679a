"""The calibration file: written whole, read back validated, and every malformed, truncated or
foreign file refused with an error naming the field."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from calibration_fixtures import Truth, synthetic

from faastrain_async.calibration import FORMAT, UNITS, VERSION, Calibration, load_calibration, read_calibration, write_calibration
from faastrain_async.calibration.measurements import Measurements
from faastrain_async.calibration.parameters import fit_parameters
from faastrain_async.config import SimSettings
from faastrain_async.local.settings import FunctionSpec
from faastrain_async.errors import ConfigError

SOURCE = {
    "cluster": "local", "api_server": "http://127.0.0.1:1", "function": "api", "namespace": "openfaas-fn",
    "time": "2026-01-01T00:00:00Z", "command": "faastrain calibrate --local-cluster --quick --out c.json",
    "faastrain_version": "0.1.0", "duration_s": 120.5,
}  # fmt: skip


def calibration() -> Calibration:
    m = synthetic(Truth())
    return Calibration(dict(SOURCE), fit_parameters(m), m.to_json())


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "cal.json"
    write_calibration(path, calibration())
    return path


def test_the_parameters_are_the_simulators_function_and_cluster_settings() -> None:
    simulation_only = {"tick", "time_scale", "calibration"}
    assert set(UNITS) == {f.name for f in fields(SimSettings)} - simulation_only


def test_round_trip(good: Path) -> None:
    data = json.loads(good.read_text())
    assert (data["format"], data["version"]) == (FORMAT, VERSION)
    read, written = read_calibration(good), calibration()
    assert (read.source, read.parameters) == (written.source, written.parameters)
    assert Measurements.from_json(read.measurements) == synthetic(Truth())
    values = load_calibration(good)
    assert values["calibration"] == str(good) and values["overload"] == "reject"
    assert SimSettings(**values).calibration == str(good)
    assert not list(good.parent.glob(".cal.json.*")), "the temporary file was left behind"


def edit(path: Path, change: Any) -> Path:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


CORRUPTIONS = [
    (lambda d: d.update(format="something-else"), "format='something-else'; not a faastrain calibration"),
    (lambda d: d.update(version=2), "version=2 is not supported"),
    (lambda d: d.update(version="1"), "version='1' is not supported"),
    (lambda d: d.pop("measurements"), "top level: missing measurements"),
    (lambda d: d.update(extra=1), "top level: unknown extra"),
    (lambda d: d["source"].pop("command"), "source.command=None; expected str"),
    (lambda d: d["source"].update(duration_s="long"), "source.duration_s='long'; expected int or float"),
    (lambda d: d["parameters"].pop("cold_start"), "parameter\\(s\\) cold_start missing"),
    (lambda d: d["parameters"].update(warp_factor={}), "unknown parameter\\(s\\) warp_factor"),
    (lambda d: d["parameters"]["service_time"].update(value="fast"), "parameters.service_time.value='fast'; expected a number"),
    (lambda d: d["parameters"]["concurrency"].update(value=2.5), "parameters.concurrency.value=2.5; expected an integer"),
    (lambda d: d["parameters"]["overload"].update(value="drop"), "parameters.overload.value='drop'; expected one of reject, queue"),
    (lambda d: d["parameters"]["cores"].update(value="many"), "parameters.cores.value='many'; expected a number or null"),
    (lambda d: d["parameters"]["idle_cpu"].update(unit="m"), "parameters.idle_cpu.unit='m'; expected 'cores'"),
    (lambda d: d["parameters"]["idle_cpu"].update(spread=-1), "parameters.idle_cpu.spread=-1"),
    (lambda d: d["parameters"]["idle_cpu"].pop("from"), "parameters.idle_cpu: missing from"),
    (lambda d: d["parameters"].update(cold_start=3.0), "parameters.cold_start must be an object"),
    (lambda d: d["parameters"]["service_time"].update(value=0), "service_time=0 is not valid"),
    (lambda d: d["parameters"]["concurrency"].update(value=0), "concurrency=0 is not valid"),
]


@pytest.mark.parametrize(("change", "message"), CORRUPTIONS)
def test_a_malformed_file_names_the_field(good: Path, change: Any, message: str) -> None:
    edit(good, change)
    with pytest.raises(ConfigError, match=message) as caught:
        load_calibration(good)
    assert str(good) in str(caught.value)


def test_truncated_foreign_missing_and_non_finite_files(good: Path, tmp_path: Path) -> None:
    text = good.read_text()
    good.write_text(text[: len(text) // 2])
    with pytest.raises(ConfigError, match="is not valid JSON \\(truncated\\?\\)"):
        load_calibration(good)
    good.write_text(json.dumps({"name": "a package.json", "version": "1.0.0"}))
    with pytest.raises(ConfigError, match="format=None; not a faastrain calibration"):
        load_calibration(good)
    good.write_text("[1, 2, 3]")
    with pytest.raises(ConfigError, match="format='list'"):
        load_calibration(good)
    good.write_text(text.replace('"spread": null', '"spread": NaN', 1))
    with pytest.raises(ConfigError, match="NaN is not a number JSON allows"):
        load_calibration(good)
    with pytest.raises(ConfigError, match="not found"):
        load_calibration(tmp_path / "absent.json")


def test_the_simulator_starts_from_the_file_and_explicit_keys_win(good: Path) -> None:
    import gymnasium

    import faastrain_async  # noqa: F401  (registers the env)

    env = gymnasium.make("FaaSTrainGym-v1", sim={"calibration": good, "cold_start": 7.0})
    try:
        settings = env.unwrapped.env.backend.settings
        written = read_calibration(good).parameters
        assert settings.calibration == str(good) and settings.cold_start == 7.0
        assert (settings.concurrency, settings.overload, settings.service_time) == (
            written["concurrency"].value, written["overload"].value, written["service_time"].value,
        )
        env.reset(seed=0)
        env.step(env.action_space.sample())
    finally:
        env.close()


def test_every_env_command_takes_calibration(good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from faastrain_async.cli.main import main

    assert main(["run", "--calibration", str(good), "--steps", "3", "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    assert main(["run", "--backend", "kubernetes", "--calibration", str(good)]) == 2
    assert "--calibration describes the simulated function; it needs --backend sim" in capsys.readouterr().err
    bad = edit(good, lambda d: d["parameters"].pop("cores"))
    assert main(["evaluate", "--policies", "hold", "--calibration", str(bad), "--out", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "parameter(s) cores missing" in err[0]


@pytest.mark.parametrize("name", ["api", "matmul"])
def test_the_shipped_calibrations_load_and_are_the_fit_of_their_measurements(name: str) -> None:
    from importlib.resources import as_file, files

    with as_file(files("faastrain_async.calibration") / "data" / f"{name}.json") as path:
        values = load_calibration(path)
        shipped = read_calibration(path)
    assert shipped.source["cluster"] == "local" and shipped.source["function"] == name and shipped.source["plan"] == "full"
    assert fit_parameters(Measurements.from_json(shipped.measurements)) == shipped.parameters
    assert SimSettings(**values).overload == "reject"
    if name == "api":  # the local cluster's default function: two in flight, 0.15-0.25 s waits
        assert values["concurrency"] == FunctionSpec().max_inflight and 0.15 < values["service_time"] < 0.3
