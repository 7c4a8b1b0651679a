"""Workloads that vary by seed: ranges, choices, ``random``, mixtures, and errors in specs."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator

import gymnasium
import numpy as np
import pytest

from faastrain_async import ENV_ID, AsyncFaaSEnv
from faastrain_async.errors import ConfigError
from loadgen.cli import locust_arguments
from loadgen.profiles import (
    AzureLike,
    Flash,
    OnOff,
    ProfileError,
    Sine,
    Trace,
    draw_profile,
    parse_profile,
    parse_workload,
)
from loadgen.schedule import ArrivalSchedule, target_counts

from loadgen_fixtures import TRACE

RANGED = "sine:period=300..900,low=1..5,high=20..60,phase=random"
EVERY_FAMILY = "mix:constant|sine|square|sawtooth|steps|step|diurnal|steady|flash|onoff|azure"


def test_two_seeds_of_a_ranged_spec_give_different_workloads() -> None:
    a, b = draw_profile(RANGED, 1), draw_profile(RANGED, 2)
    assert isinstance(a, Sine) and isinstance(b, Sine) and a != b
    t = np.arange(0.0, 900.0, 5.0)
    assert not np.allclose(a.rate(t), b.rate(t))
    assert draw_profile(RANGED, 1) == a  # and one seed always draws the same one


def test_a_seed_draws_the_same_profile_in_another_process() -> None:
    code = f"from loadgen.profiles import draw_profile; print(draw_profile({EVERY_FAMILY!r}, 12345).spec)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == draw_profile(EVERY_FAMILY, 12345).spec


@pytest.mark.parametrize(
    "spec",
    ["constant:rate=10", "sine:period=600,low=2,high=40", "steps:rates=5/20/10,hold=60", f"trace:path={TRACE},scale=3"],
)
def test_a_fixed_spec_stays_fixed(spec: str) -> None:
    workload = parse_workload(spec)
    assert workload.fixed
    profile = parse_profile(spec)
    assert all(draw_profile(spec, seed) == profile for seed in (0, 1, 2**40))
    assert profile.spec == parse_profile(profile.spec).spec


def test_drawn_profiles_are_concrete_and_parse_back_to_themselves() -> None:
    seen = set()
    for seed in range(200):
        profile = draw_profile(EVERY_FAMILY, seed)
        seen.add(type(profile).__name__)
        assert parse_workload(profile.spec).fixed, profile.spec
        assert parse_profile(profile.spec) == profile, profile.spec
    assert len(seen) == 11  # every family of the mix was drawn
    replay = draw_profile(f"trace:path={TRACE},offset=random,compress=30", 5)
    assert isinstance(replay, Trace) and parse_profile(replay.spec) == replay


def test_draws_fall_inside_their_ranges_with_the_stated_distributions() -> None:
    draws = [draw_profile("sine:period=300..900,low=1|3|5,high=10..1000:log", seed) for seed in range(3000)]
    periods = np.array([p.period for p in draws])  # type: ignore[attr-defined]
    lows = Counter(p.low for p in draws)  # type: ignore[attr-defined]
    highs = np.array([p.high for p in draws])  # type: ignore[attr-defined]
    assert periods.min() >= 300 and periods.max() <= 900
    assert np.median(periods) == pytest.approx(600, rel=0.05)  # uniform: median in the middle
    assert set(lows) == {1.0, 3.0, 5.0} and all(abs(n / 3000 - 1 / 3) < 0.04 for n in lows.values())
    assert highs.min() >= 10 and highs.max() <= 1000
    assert np.median(highs) == pytest.approx(100, rel=0.1)  # log-uniform: median at the geometric mean
    assert all(len(f"{p.period:g}".replace(".", "")) <= 4 for p in draws)  # type: ignore[attr-defined]


def test_integer_ranges_and_random_offsets_cover_the_trace() -> None:
    offsets = [draw_profile(f"trace:path={TRACE},offset=random", seed).offset for seed in range(2000)]  # type: ignore[attr-defined]
    assert min(offsets) >= 0 and max(offsets) <= 345 and len(set(offsets)) > 300
    assert np.mean(offsets) == pytest.approx(172.5, rel=0.08)
    ranged = {draw_profile(f"trace:path={TRACE},offset=10..12", seed).offset for seed in range(100)}  # type: ignore[attr-defined]
    assert ranged == {10, 11, 12}


def test_a_mix_draws_families_by_weight() -> None:
    spec = "mix:(sine:period=60..600,low=1,high=30)*3|onoff"
    kinds = Counter(type(draw_profile(spec, seed)).__name__ for seed in range(2000))
    assert set(kinds) == {"Sine", "OnOff"}
    assert kinds["Sine"] / 2000 == pytest.approx(0.75, abs=0.04)
    sines = [p for p in (draw_profile(spec, s) for s in range(50)) if isinstance(p, Sine)]
    assert all(p.low == 1 and p.high == 30 and 60 <= p.period <= 600 for p in sines)
    assert parse_workload("mix:flash|azure").peak > 0


def _episode(profile: str, seed: int = 4) -> list[float]:
    """Observations and rewards of a short simulated episode."""
    env = gymnasium.make(ENV_ID, profile=profile)
    obs, _ = env.reset(seed=seed)
    values = obs.tolist()
    for action in (7, 3, 6, 5):
        obs, reward, _, _, _ = env.step(action)
        values += [*obs.tolist(), float(reward)]
    env.close()
    return values


def test_the_draws_leave_the_simulators_random_streams_alone() -> None:
    # A choice between equal values draws the fixed profile: the episode must be the fixed spec's.
    assert _episode("constant:rate=7|7") == _episode("constant:rate=7")


@pytest.fixture
def listening_url() -> Iterator[str]:
    """A real listening socket, so that the load generator's reachability check passes."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield f"http://127.0.0.1:{s.getsockname()[1]}/"


def test_one_seed_gives_the_same_workload_in_the_simulator_and_the_load_generator(listening_url: str) -> None:
    seed = 8
    env = gymnasium.make(ENV_ID, profile=RANGED)
    env.reset(seed=seed)
    model = env.unwrapped.env.backend.model
    simulated = model.profile
    # The load generator draws the concrete profile from the same seed and hands Locust its spec.
    arguments = locust_arguments(["--url", listening_url, "--profile", RANGED, "--seed", str(seed)])
    spec = next(a.split("=", 1)[1] for a in arguments if a.startswith("--rate-profile="))
    assert spec == simulated.spec == draw_profile(RANGED, seed).spec
    schedule = ArrivalSchedule(parse_profile(spec), seed=seed)
    assert np.array_equal(target_counts(schedule.profile, 120), target_counts(simulated, 120))
    # Another seed: another workload in the simulator; no seed: the same world goes on.
    env.reset(seed=seed + 1)
    assert model.profile != simulated and model.profile == draw_profile(RANGED, seed + 1)
    env.reset()
    assert model.profile == draw_profile(RANGED, seed + 1)
    env.close()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("wobble:rate=1..3", "unknown kind 'wobble'; known: constant, sine"),
        ("sine:period=5..1,low=1,high=2", "bad range period=5..1: the low end must not exceed the high end"),
        ("sine:period=60,low=1,high=2,speed=3", "bad part 'speed=3'; sine takes period=, low=, high=, phase="),
        ("sine:period=0..100:log,low=1,high=2", "bad range period=0..100:log: a log range needs a low end > 0"),
        ("sine:period=60,low=1..50,high=20..60", "its ranges allow low=50.0, high=20.0, which is not valid"),
        ("sine:period=random,low=1,high=2", "period='random' is not a valid value"),
        ("sine:period=1..x,low=1,high=2", "period='1..x' is not a valid value"),
        ("steps:rates=1..5/9..2,hold=5", "bad range rates=9..2"),
        ("flash:base=1,height=5,every=60", "missing length="),
        ("onoff:low=1,high=5,on=10,off=10,key=-1", "key must be an integer"),
        ("mix:sine|wobble", "unknown kind 'wobble' in the mix"),
        ("mix:sine|trace", "a trace member needs its own spec"),
        ("mix:sine*0|onoff", "mix weight '0' must be a number > 0"),
        ("mix:(mix:sine)|onoff", "a mix member cannot be a mix"),
        ("mix:(sine:period=1,low=1,high=2|onoff", "a '(' is not closed"),
        ("mix:sine||onoff", "bad mix member ''"),
    ],
)
def test_bad_specs_get_a_clear_error_naming_the_part(spec: str, message: str) -> None:
    with pytest.raises(ProfileError, match=message.replace("(", r"\(").replace("*", r"\*").replace("|", r"\|")):
        parse_workload(spec)


def test_the_vector_env_shares_a_fixed_profile_and_draws_a_ranged_one_per_world() -> None:
    from faastrain_async.env.vector_env import FaaSVectorEnv

    fixed = FaaSVectorEnv(4, profile="sine:period=600,low=2,high=40")
    assert fixed.profiles is None and fixed.model.rates.profile == parse_profile("sine:period=600,low=2,high=40")  # type: ignore[union-attr]
    ranged = FaaSVectorEnv(4, profile=RANGED)
    ranged.reset(seed=3)
    times = np.zeros((4, 1)) + 100.0
    expected = [float(draw_profile(RANGED, 3 + i).rate(100.0)) for i in range(4)]
    assert ranged.profiles is not None and ranged.profiles.rate(times).ravel().tolist() == pytest.approx(expected)


def test_a_ranged_spec_is_not_a_concrete_profile_and_a_seed_must_be_valid() -> None:
    with pytest.raises(ProfileError, match="draw it with draw_profile"):
        parse_profile(RANGED)
    with pytest.raises(ProfileError, match="draws its parameters"):
        parse_profile("flash:base=1,height=5,every=60,length=10")  # its key defaults to random
    with pytest.raises(ProfileError, match="seed must be an integer >= 0"):
        draw_profile(RANGED, -1)
    with pytest.raises(ConfigError, match="bad range period=5..1"):
        AsyncFaaSEnv("sim", profile="sine:period=5..1,low=1,high=2")


def test_rates_are_deterministic_functions_of_time() -> None:
    t = np.random.default_rng(0).uniform(0, 5000, 400)
    for profile in (draw_profile(EVERY_FAMILY, seed) for seed in range(40)):
        forward = np.asarray(profile.rate(t))
        assert np.array_equal(np.asarray(profile.rate(t[::-1]))[::-1], forward)
        assert [profile.rate(float(x)) for x in t[:20]] == pytest.approx(forward[:20].tolist(), rel=1e-12)
        assert isinstance(profile.rate(1.0), float) and forward.shape == t.shape


# -- the families' statistics over long runs --------------------------------------------------

LONG = np.arange(0.0, 4_000_000.0, 1.0) + 0.5  # about 46 days, one sample a second


def test_steady_keeps_its_mean_and_drift_bound() -> None:
    rates = np.asarray(parse_profile("steady:rate=10,noise=0.3,corr=300,key=7").rate(LONG))
    assert rates.mean() == pytest.approx(10, rel=0.02)  # ±2 %: about 13,000 knots
    assert 0.2 < rates.std() / 10 < 0.3  # between knots the drift is a little below noise=0.3
    assert rates.max() <= 10 * (1 + 0.3 * np.sqrt(3)) + 1e-9


def test_flash_crowds_come_as_often_and_as_large_as_asked() -> None:
    flash = parse_profile("flash:base=5,height=40,every=600,length=60,rise=0,key=7")
    assert isinstance(flash, Flash)
    rates = np.asarray(flash.rate(LONG))
    assert rates.mean() == pytest.approx(5 + 40 * 60 / 600, rel=0.05)  # ±5 %: about 6,700 surges
    starts = int(np.sum(np.diff(rates) > 0.4 * 40))  # a surge adds at least half the height at once
    assert starts / LONG[-1] * 600 == pytest.approx(1.0, rel=0.05)
    assert rates.min() == 5 and rates.max() <= flash.peak


def test_on_off_sojourns_have_the_asked_means() -> None:
    onoff = parse_profile("onoff:low=2,high=40,on=60,off=240,key=7")
    assert isinstance(onoff, OnOff)
    high = np.asarray(onoff.rate(LONG)) > 20
    assert (2 + 38 * high.mean()) == pytest.approx(2 + 38 * 60 / 300, rel=0.03)
    switches = np.flatnonzero(np.diff(high.astype(np.int8)))
    runs = np.diff(switches)
    on_runs = runs[0::2] if high[switches[0] + 1] else runs[1::2]
    off_runs = runs[1::2] if high[switches[0] + 1] else runs[0::2]
    assert on_runs.mean() == pytest.approx(60, rel=0.05)  # ±5 %: about 13,000 of each
    assert off_runs.mean() == pytest.approx(240, rel=0.05)
    assert np.std(off_runs) / np.mean(off_runs) == pytest.approx(1.0, abs=0.12)  # exponential: CV 1


def test_diurnal_and_sine_means() -> None:
    day = np.arange(0.0, 86400.0, 1.0)
    assert np.mean(parse_profile("diurnal:low=1,high=9").rate(day)) == pytest.approx(1 + 8 * 3 / 8, rel=1e-3)
    assert np.mean(parse_profile("sine:period=600,low=2,high=40").rate(day)) == pytest.approx(21, rel=1e-3)


def test_azure_like_traces_show_the_daily_cycle_bursts_and_variability_asked_for() -> None:
    days = 60
    minutes = (np.arange(days * 1440) + 0.5) * 60.0
    azure = parse_profile("azure:mean=10,start=0,key=11")
    assert isinstance(azure, AzureLike)
    rates = np.asarray(azure.rate(minutes))
    assert rates.mean() == pytest.approx(10, rel=0.04)  # ±4 %: heavy tails converge slowly
    # The daily cycle, fitted to the mean of each hour of the day: a cosine peaking at noon.
    hourly = rates.reshape(days, 24, 60).mean(axis=(0, 2))
    angle = 2 * np.pi * ((np.arange(24) + 0.5) / 24 - 0.5)
    a, b = 2 * np.mean(hourly * np.cos(angle)) / hourly.mean(), 2 * np.mean(hourly * np.sin(angle)) / hourly.mean()
    assert (1 + a) / (1 - a) == pytest.approx(1.5, rel=0.08)  # swing=1.5 (±8 %: bursts weigh on hours)
    assert abs(np.arctan2(b, a)) < 2 * np.pi / 24  # the peak within an hour of noon
    # Poisson arrivals around these per-minute rates: CV² of the gaps = 2 E[R] E[1/R] - 1.
    cv = np.sqrt(2 * rates.mean() * np.mean(1 / rates) - 1)
    assert cv == pytest.approx(1.8, rel=0.1)
    quiet = np.asarray(parse_profile("azure:mean=10,swing=1,noise=0,start=0,key=11").rate(minutes))
    bursts = np.sum(quiet > 1.5 * quiet.min())  # a burst at least triples a minute's rate
    assert bursts / (days * 24) == pytest.approx(10, rel=0.05)
    assert quiet.max() <= quiet.min() * (1 + 50) + 1e-9  # capped at top=50
