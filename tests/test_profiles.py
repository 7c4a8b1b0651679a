"""Workload profiles: shapes, spec parsing, trace replay and errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from loadgen.profiles import PROFILE_KINDS, ProfileError, Trace, load_trace, parse_profile

TRACE = Path(__file__).parents[1] / "faastrain_async" / "evaluation" / "data" / "azure-functions-30s.json"


@pytest.mark.parametrize(
    ("spec", "times", "rates"),
    [
        ("constant:rate=10", [0, 99], [10, 10]),
        ("sine:period=600,low=2,high=40", [0, 150, 450, 600], [21, 40, 2, 21]),
        ("square:period=100,low=2,high=40,duty=0.25", [0, 24.9, 25, 99, 100], [40, 40, 2, 2, 40]),
        ("sawtooth:period=100,low=0,high=30", [0, 50, 99.999, 100], [0, 15, 30, 0]),
        ("steps:rates=5/20/10,hold=60", [0, 60, 150, 180], [5, 20, 10, 5]),
        ("steps:rates=5/20,hold=60,loop=0", [0, 60, 120], [5, 20, 0]),
        ("diurnal:low=1,high=41,period=100,peak=0.5", [50, 0], [41, 1]),
    ],
)
def test_shapes(spec: str, times: list[float], rates: list[float]) -> None:
    profile = parse_profile(spec)
    scalar = [float(profile.rate(float(t))) for t in times]
    vector = np.asarray(profile.rate(np.asarray(times, dtype=float)), dtype=float)
    assert scalar == pytest.approx(rates, abs=1e-3)
    assert vector.tolist() == pytest.approx(rates, abs=1e-3)
    assert profile.peak >= max(rates) - 1e-9


@pytest.mark.parametrize("kind", [k for k in PROFILE_KINDS if k not in ("trace", "mix")])
def test_spec_round_trips(kind: str) -> None:
    specs = {
        "constant": "constant:rate=3",
        "sine": "sine:period=60,low=1,high=9,phase=0.25",
        "square": "square:period=60,low=1,high=9",
        "sawtooth": "sawtooth:period=60,low=1,high=9",
        "steps": "steps:rates=1/2/3,hold=5",
        "step": "step:before=1,after=9,at=30",
        "diurnal": "diurnal:low=1,high=9",
        "steady": "steady:rate=4,noise=0.1,key=3",
        "flash": "flash:base=1,height=9,every=60,length=10,key=3",
        "onoff": "onoff:low=1,high=9,on=10,off=20,key=3",
        "azure": "azure:mean=4,start=0.25,key=3",
    }
    profile = parse_profile(specs[kind])
    assert parse_profile(profile.spec) == profile


def test_the_shared_trace_loads_and_replays_scaled_and_compressed() -> None:
    counts = load_trace(TRACE)
    assert len(counts) == 346 and min(counts) == 1 and max(counts) == 43
    trace = parse_profile(f"trace:path={TRACE},interval=30,scale=3,compress=15")
    assert isinstance(trace, Trace) and trace.replay_interval == 2.0
    # Interval i lasts 2 s and carries 3 * counts[i] requests.
    assert trace.rate(0.5) == pytest.approx(3 * counts[0] / 2.0)
    assert trace.rate(2.5) == pytest.approx(3 * counts[1] / 2.0)
    assert trace.rate(2.0 * 346 + 0.5) == pytest.approx(trace.rate(0.5))  # loops by default
    once = parse_profile(f"trace:path={TRACE},loop=0")
    assert once.duration == 346 * 30 and once.rate(346 * 30 + 1) == 0.0


def test_csv_traces_with_or_without_a_header(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("minute,count\n0,4\n1,7\n")
    (tmp_path / "b.csv").write_text("4\n7\n")
    assert load_trace(tmp_path / "a.csv") == load_trace(tmp_path / "b.csv") == [4.0, 7.0]
    (tmp_path / "c.csv").write_text("4\nseven\n")
    with pytest.raises(ProfileError, match="line 2: 'seven' is not a number"):
        load_trace(tmp_path / "c.csv")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "non-empty"),
        ("wave:rate=3", "unknown kind 'wave'; known: constant, sine"),
        ("sine:period=60,low=1", "missing high="),
        ("sine:period=60,low=1,high=x", "high='x' is not a valid value"),
        ("sine:period=-60,low=1,high=2", "period=-60.0 is not valid: must be a number in \\[0.001, 1e\\+09\\]"),
        ("sine:period=60,low=5,high=2", "0 <= low <= high"),
        ("constant:rate=1,burst=2", "bad part 'burst=2'; constant takes rate="),
        ("constant:rate", "bad part 'rate'"),
        ("square:period=1,low=1,high=2,duty=2", "duty must be in"),
        ("steps:rates=1/x,hold=5", "rates='1/x' is not a valid value"),
        ("trace:path=no-such-trace.json", "trace file not found: 'no-such-trace.json'"),
        ("trace:path=PATH,compress=0", "compress=0.0 is not valid: must be a number in \\(0, 1e\\+06\\]"),
    ],
)
def test_bad_specs_name_the_bad_part(spec: str, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        parse_profile(spec.replace("PATH", str(TRACE)))


def test_a_trace_that_is_not_a_list_of_numbers(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"counts": [1, 2]}')
    with pytest.raises(ProfileError, match="must be a JSON list of numbers"):
        load_trace(bad)
    bad.write_text("[1, -2]")
    with pytest.raises(ProfileError, match="interval 1 has count -2"):
        parse_profile(f"trace:path={bad}")


def test_profiles_import_neither_locust_nor_gevent() -> None:
    # The simulator imports the profiles; Locust would monkey-patch its interpreter with gevent.
    code = "import sys, loadgen.profiles; print(sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"
