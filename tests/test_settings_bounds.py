"""Settings outside their bounds, and of the wrong type, are refused up front with a
ConfigError naming the value and the bound (never a MemoryError, OverflowError or a hang)."""

from __future__ import annotations

import math
import threading
from typing import Any

import gymnasium as gym
import pytest

import faastrain_async  # noqa: F401 - registers the ids
from faastrain_async import AsyncFaaSEnv
from faastrain_async.backends.kubernetes.settings import KubernetesSettings
from faastrain_async.config import BOUNDS, EnvSettings, RewardSettings, SimSettings
from faastrain_async.env.gym_env import FaaSEnv, Portal
from faastrain_async.errors import ConfigError
from loadgen.bounds import LOAD_BOUNDS, Bound
from loadgen.profiles import ProfileError, Trace, draw_profile


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"interval": 1e300}, "interval=1e+300 is not valid: must be a number in [0.001, 86400]"),
        ({"interval": 1e-300}, "interval=1e-300"),
        ({"interval": True}, "interval=True"),
        ({"interval": math.nan}, "interval=nan"),
        ({"settle_timeout": 1e300}, "settle_timeout=1e+300 is not valid: must be a number in (0, 86400]"),
        ({"episode_steps": True}, "episode_steps=True is not valid: must be an integer"),
        ({"max_replicas": 10**9}, "max_replicas=1000000000 is not valid: must be an integer in [0, 1000]"),
        ({"max_delta": 2.0}, "max_delta=2.0 is not valid: must be an integer"),
        ({"sim": {"tick": 1e-300}}, "tick=1e-300 is not valid: must be a number in [0.001, 3600]"),
        ({"sim": {"tick": 1e300}}, "tick=1e+300"),
        ({"sim": {"service_time_cv": 1e300}}, "service_time_cv=1e+300 is not valid: must be a number in [0, 10]"),
        ({"sim": {"cold_start_cv": -1}}, "cold_start_cv=-1"),
        ({"sim": {"time_scale": 1e300}}, "time_scale=1e+300 is not valid: must be a number in [0.001, 10000]"),
        ({"sim": {"time_scale": 1e-300}}, "time_scale=1e-300"),
        ({"sim": {"concurrency": 10**12}}, "concurrency=1000000000000"),
        ({"sim": {"cores": True}}, "cores=True"),
        ({"interval": 86400.0, "sim": {"tick": 0.001}}, "interval / tick=86400000.0 is not valid: must be a number in [0, 1e+06]"),
        ({"profile": "constant:rate=1e30"}, "rate=1e+30 is not valid: must be a number in [0, 1e+06]"),
        ({"profile": "steps:rates=1/1e30,hold=10"}, "rate=1e+30"),
        ({"profile": "sine:period=1e-300,low=1,high=2"}, "period=1e-300 is not valid"),
        ({"profile": 5}, "profile=5 is not valid"),
        ({"reward": {"penalty": "x"}}, "penalty='x' is not valid: must be a number in [-1e+09, 0]"),
        ({"reward": {"penalty": -math.inf}}, "penalty=-inf"),
        ({"render_mode": "human"}, "render_mode='human' is not valid: must be one of ansi, rgb_array"),
        ({"render_mode": 5}, "render_mode=5"),
        ({"backend": 5}, "backend=5 is not valid: must be one of sim, kubernetes"),
        ({"backend": ["sim"]}, "backend=['sim'] is not valid"),
        ({"backend": "kubernetes", "interval": 0.5}, "interval=0.5 is not valid: must be a number in [1, 86400]: seconds of one measurement window on a live cluster"),
    ],
)
def test_a_bad_setting_is_named_with_its_bound(kwargs: dict[str, Any], named: str) -> None:
    kwargs = dict(kwargs)
    backend = kwargs.pop("backend", "sim")
    with pytest.raises(ConfigError) as raised:
        FaaSEnv(backend, **kwargs)
    assert named in str(raised.value)


def test_gymnasium_make_names_a_bad_setting_too() -> None:
    with pytest.raises(ConfigError, match=r"interval=True"):
        gym.make("FaaSTrainGym-v1", interval=True)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"request_timeout": 1e300}, "request_timeout=1e+300 is not valid: must be a number in (0, 86400]"),
        ({"ingest_timeout": math.inf}, "ingest_timeout=inf"),
        ({"retries": True}, "retries=True is not valid: must be an integer in [0, 100]"),
        ({"load_workers": 10**6}, "load_workers=1000000"),
        ({"label_selector": "faas_function=api\n"}, "label_selector='faas_function=api\\n' is not valid"),
        ({"label_selector": "a=b,\nc=d"}, "label_selector='a=b,\\nc=d'"),
        ({"prometheus_url": "http://[::1"}, "prometheus_url='http://[::1' is not valid"),
        ({"gateway_url": "http://a b:8080"}, "gateway_url='http://a b:8080'"),
    ],
)
def test_a_bad_kubernetes_setting_is_named(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError) as raised:
        KubernetesSettings(**kwargs)
    assert named in str(raised.value)


def test_every_bound_is_a_closed_range_with_a_meaning() -> None:
    for name, bound in {**BOUNDS, **LOAD_BOUNDS}.items():
        assert bound.low <= bound.high and bound.meaning, name
        low, high = (int(bound.low), int(bound.high)) if bound.integer else (bound.low, bound.high)
        assert bound.allows(high) and not bound.allows(True) and not bound.allows(math.nan), name
        assert bound.allows(low) != bound.low_open, name


def test_a_bound_message_names_the_value_the_interval_and_the_meaning() -> None:
    bound = Bound(0, 10, "widgets", low_open=True)
    assert bound.problem("n", 5) is None
    assert bound.problem("n", 0) == "n=0 is not valid: must be a number in (0, 10]: widgets"
    assert Bound(1, 3, "steps", integer=True).problem("k", 2.0) == "k=2.0 is not valid: must be an integer in [1, 3]: steps"


def test_the_settings_dataclasses_keep_their_bounds() -> None:
    with pytest.raises(ConfigError, match="slo_seconds=0"):
        RewardSettings(preset="normalized", slo_seconds=0)
    with pytest.raises(ConfigError, match="service_time=0"):
        SimSettings(service_time=0)
    with pytest.raises(ConfigError, match="cores=1e\\+300"):
        SimSettings().with_cores(1e300)
    with pytest.raises(ConfigError, match="settle_timeout=inf"):
        EnvSettings(settle_timeout=math.inf)
    # The largest values allowed still build and step.
    env = FaaSEnv("sim", interval=1000.0, settle_timeout=86400.0, sim={"tick": 0.001, "service_time_cv": 10.0})
    env.reset(seed=0)
    env.step(5)
    env.close()


def test_a_workloads_peak_rate_is_bounded_whatever_makes_it() -> None:
    with pytest.raises(ProfileError, match="peak rate=.* is not valid: must be a number in \\[0, 1e\\+06\\]"):
        Trace(counts=(1.0, 1e12), interval=1.0)
    with pytest.raises(ProfileError, match="peak rate"):
        Trace(counts=(1.0, 1000.0), interval=1.0, scale=1000.0, compress=1000.0)
    with pytest.raises(ProfileError, match="top=1e\\+300"):
        draw_profile("azure:mean=10,height=1,top=1e300", 0)
    assert draw_profile("constant:rate=1e6", 0).peak == 1e6  # the bound itself is allowed


def test_a_wait_longer_than_threading_allows_is_a_wait_that_long_and_close_still_works() -> None:
    portal = Portal("bounds-test")
    try:

        async def answer() -> int:
            return 42

        assert portal.call(answer(), 1e300) == 42  # no OverflowError from threading's wait
    finally:
        portal.close()
    assert not portal.thread.is_alive()
    assert threading.TIMEOUT_MAX < 1e300


async def test_the_async_env_checks_before_it_builds_anything() -> None:
    with pytest.raises(ConfigError, match="backend=3.5"):
        AsyncFaaSEnv(3.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True])
def test_a_bad_seed_is_a_config_error_naming_it(seed: object) -> None:
    env = gym.make("FaaSTrainGym-v1")
    try:
        with pytest.raises(ConfigError, match=f"seed={seed!r} is not valid"):
            env.reset(seed=seed)  # type: ignore[arg-type]
    finally:
        env.close()
