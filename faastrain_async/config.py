"""Settings: small frozen dataclasses, one per concern, checked when built.

They are plain values: nothing here reads the process environment or a file. The CLI (and
``gymnasium.make`` keyword arguments) build them at the edge.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from typing import Any, Literal, Mapping, TypeVar

from faastrain_async.errors import ConfigError
from loadgen.bounds import LOAD_BOUNDS, Bound

ActionMode = Literal["delta", "updown"]
WorldPolicy = Literal["continue", "new"]
SettlePolicy = Literal["continue", "truncate", "raise"]
RewardPreset = Literal["seed", "normalized"]
ObservationDtype = Literal["float32", "float64"]
EpisodeEnd = Literal["truncated", "terminated"]
ObservationKind = Literal["default", "rich"]

ACTION_MODES: tuple[str, ...] = ("delta", "updown")
SETTLE_POLICIES: tuple[str, ...] = ("continue", "truncate", "raise")
REWARD_PRESETS: tuple[str, ...] = ("seed", "normalized")
WORLD_POLICIES: tuple[str, ...] = ("continue", "new")
OBSERVATION_DTYPES: tuple[str, ...] = ("float32", "float64")
EPISODE_ENDS: tuple[str, ...] = ("truncated", "terminated")
OBSERVATIONS: tuple[str, ...] = ("default", "rich")

DEFAULT_PROFILE = "sine:period=600,low=2,high=40"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def check(ok: bool, name: str, value: object, allowed: str) -> None:
    """Raise ConfigError naming ``name=value`` and what is ``allowed`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"{name}={value!r} is not valid: {allowed}")


def positive(name: str, value: float) -> None:
    check(_number(value) and math.isfinite(value) and value > 0, name, value, "must be a finite number > 0")


def non_negative(name: str, value: float) -> None:
    check(_number(value) and math.isfinite(value) and value >= 0, name, value, "must be a finite number >= 0")


def int_at_least(name: str, value: int, low: int) -> None:
    check(isinstance(value, int) and not isinstance(value, bool) and value >= low, name, value, f"must be an integer >= {low}")


def _number(value: object) -> bool:
    # bool is an int to Python, but True is no interval: a setting's number is an int or a float.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_SECONDS_A_DAY = 86400.0

#: The numeric settings' bounds, each stated once: a setting (or a family of settings) ->
#: its smallest and largest value and what it means. They keep values inside what the code
#: can compute with (no overflowing wait, no array too large for memory, no simulation that
#: never ends) and inside what makes sense; the message of a value outside names the bound.
#: The workload's own bounds (rates, durations) are ``loadgen.bounds.LOAD_BOUNDS``.
BOUNDS: dict[str, Bound] = {
    # -- EnvSettings, RewardSettings --------------------------------------------------------------
    "interval": Bound(1e-3, _SECONDS_A_DAY, "seconds of one measurement window"),
    "live_interval": Bound(
        1.0, _SECONDS_A_DAY, "seconds of one measurement window on a live cluster, whose load generator reports once a second"
    ),
    "settle_timeout": Bound(0, _SECONDS_A_DAY, "seconds to wait for the replicas to settle", low_open=True),
    "episode_steps": Bound(1, 1e9, "steps per episode", integer=True),
    # The simulator's per-replica-count tables cost time with the square of the most replicas
    # (about 20 s to build for 1000 on a small machine).
    "replicas": Bound(0, 1000, "replicas of the function", integer=True),
    "replica_change": Bound(1, 1000, "replicas one action adds or removes at most", integer=True),
    "penalty": Bound(-1e9, 0, "reward added when the requested scaling could not be applied"),
    "slo_seconds": Bound(0, _SECONDS_A_DAY, "seconds of mean execution time the reward aims below", low_open=True),
    # -- SimSettings ------------------------------------------------------------------------------
    "service_time": Bound(0, 3600, "mean seconds one request takes alone", low_open=True),
    "cv": Bound(0, 10, "coefficient of variation (standard deviation / mean)"),
    "concurrency": Bound(1, 1e6, "requests one replica runs at once", integer=True),
    "replica_rate": Bound(0, 1e6, "requests per second one replica completes at most", low_open=True),
    "request_timeout": Bound(0, _SECONDS_A_DAY, "seconds a request may take before it fails", low_open=True),
    "cpu": Bound(0, 1e4, "cores (CPU seconds per second)", low_open=True),
    "idle_cpu": Bound(0, 1e4, "cores a ready replica uses when idle"),
    "mem_request_mib": Bound(0, 1e7, "MiB of memory a replica requests", low_open=True),
    "mib": Bound(0, 1e7, "MiB of memory"),
    "delay": Bound(0, _SECONDS_A_DAY, "seconds (a replica's start, termination or grace period)"),
    "tick": Bound(1e-3, 3600, "seconds of one step of the simulation"),
    "time_scale": Bound(1e-3, 1e4, "how many times faster than wall time the simulator runs"),
    "window_cells": Bound(0, 1e6, "simulation ticks in one measurement window (interval / tick)"),
    # -- KubernetesSettings -----------------------------------------------------------------------
    "timeout": Bound(0, _SECONDS_A_DAY, "seconds a wait or a request may take", low_open=True),
    "backoff": Bound(0, 3600, "seconds between retries", low_open=True),
    "scrape_interval": Bound(0, 3600, "seconds between Prometheus' scrapes", low_open=True),
    "retries": Bound(0, 100, "retries of a failed request", integer=True),
    "watch_timeout": Bound(1, _SECONDS_A_DAY, "seconds of one watch request", integer=True),
    "watch_failures": Bound(1, 1000, "failed reconnections of the watcher before it gives up", integer=True),
    # The load generator's own, as its command line checks them.
    "load_timeout": LOAD_BOUNDS["timeout"],
    "load_duration": LOAD_BOUNDS["duration"],
    "load_workers": LOAD_BOUNDS["workers"],
}


def bounded(name: str, value: object, bound: str | None = None) -> None:
    """Raise ConfigError naming ``name=value`` unless it lies in ``BOUNDS[bound or name]``."""
    problem = BOUNDS[bound or name].problem(name, value)
    if problem is not None:
        raise ConfigError(problem)


def check_window_cells(interval: float, tick: float) -> None:
    """Refuse a window of more simulation ticks than the simulator can hold in memory at once."""
    problem = BOUNDS["window_cells"].problem("interval / tick", interval / tick)
    if problem is not None:
        raise ConfigError(f"interval={interval:g} with the simulator's tick={tick:g}: {problem}")


def dns_label(name: str, value: object) -> str:
    """``value`` if it is a DNS-1123 label (what Kubernetes names and namespaces are)."""
    check(
        isinstance(value, str) and _DNS_LABEL.match(value) is not None, name, value,
        "must be a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63)",
    )
    return str(value)


def one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    check(value in allowed, name, value, f"must be one of {', '.join(allowed)}")


def http_method(name: str, value: object) -> None:
    check(isinstance(value, str) and value.isalpha(), name, value, "must be an HTTP method such as POST or GET")


@dataclass(frozen=True)
class RewardSettings:
    """How a step's window becomes a reward (see docs/environment.md, "Reward").

    ``preset="seed"`` is FaaSTrainGym's reward, ``0.75·thr² + 0.125·cpu·100 + 0.125·mem·100
    − 0.25·(replicas − min)²`` with ``thr`` in percent, plus ``penalty`` (−1000) when the
    scaling could not be applied. ``preset="normalized"`` keeps each step's reward in [−1, 1].
    """

    preset: RewardPreset = "seed"
    #: Added when the requested scaling could not be applied; None takes the preset's value
    #: (−1000 for "seed", −0.5 for "normalized").
    penalty: float | None = None
    #: Latency objective of the "normalized" preset: mean execution time above it costs reward.
    slo_seconds: float = 1.0

    def __post_init__(self) -> None:
        one_of("reward preset", self.preset, REWARD_PRESETS)
        if self.penalty is not None:
            bounded("penalty", self.penalty)
        bounded("slo_seconds", self.slo_seconds)

    @property
    def effective_penalty(self) -> float:
        if self.penalty is not None:
            return self.penalty
        return -1000.0 if self.preset == "seed" else -0.5


@dataclass(frozen=True)
class EnvSettings:
    """What the agent sees and does, and how one step is measured."""

    #: Length of the measurement window that starts once the scaling has settled (seconds).
    interval: float = 30.0
    #: Steps per episode (``gymnasium.make``'s ``max_episode_steps`` sets the same number).
    episode_steps: int = 10
    #: What the episode's last step reports: "truncated" (a time limit, Gymnasium's meaning)
    #: or "terminated" (the ``done`` that FaaSTrainGym and DRe-SCale agents wait for).
    episode_end: EpisodeEnd = "truncated"
    min_replicas: int = 1
    max_replicas: int = 10
    #: Replicas requested at every reset.
    initial_replicas: int = 1
    #: "delta": Discrete(2·max_delta + 1), action a scales by a − max_delta.
    #: "updown": Discrete(2), 0 scales down and 1 scales up by step_size.
    action_mode: ActionMode = "delta"
    max_delta: int = 5
    step_size: int = 1
    #: Longest wait for the replicas to settle on the target (seconds).
    settle_timeout: float = 120.0
    #: What a settle timeout does: measure anyway, end the episode (truncated), or raise.
    on_settle_timeout: SettlePolicy = "continue"
    #: Workload profile spec (see loadgen.profiles), or a path-free trace spec.
    profile: str = DEFAULT_PROFILE
    reward: RewardSettings = field(default_factory=RewardSettings)
    #: What a reset without a seed does on the simulator: "continue" the world (its time and
    #: workload go on; the replicas are scaled back), or start a "new" one (a seed drawn from
    #: the env's generator: a fresh workload draw every episode, for training on a mixture).
    world: WorldPolicy = "continue"
    #: The observation's dtype: float64 for agents written for FaaSTrainGym or DRe-SCale.
    observation_dtype: ObservationDtype = "float32"
    #: "default": FaaSTrainGym's six columns; "rich": those six, then recent request rates,
    #: the target, pending and terminating replicas, the last settle time, the time since the
    #: last scaling and the p95 execution time (docs/environment.md).
    observation: ObservationKind = "default"

    def __post_init__(self) -> None:
        bounded("interval", self.interval)
        bounded("episode_steps", self.episode_steps)
        one_of("episode_end", self.episode_end, EPISODE_ENDS)
        bounded("min_replicas", self.min_replicas, "replicas")
        bounded("max_replicas", self.max_replicas, "replicas")
        int_at_least("max_replicas", self.max_replicas, 1)
        if self.min_replicas > self.max_replicas:
            raise ConfigError(
                f"min_replicas={self.min_replicas} is greater than max_replicas={self.max_replicas}; need min <= max"
            )
        bounded("initial_replicas", self.initial_replicas, "replicas")
        check(
            self.min_replicas <= self.initial_replicas <= self.max_replicas,
            "initial_replicas",
            self.initial_replicas,
            f"must lie in [min_replicas, max_replicas] = [{self.min_replicas}, {self.max_replicas}]",
        )
        one_of("action_mode", self.action_mode, ACTION_MODES)
        bounded("max_delta", self.max_delta, "replica_change")
        bounded("step_size", self.step_size, "replica_change")
        bounded("settle_timeout", self.settle_timeout)
        one_of("on_settle_timeout", self.on_settle_timeout, SETTLE_POLICIES)
        check(isinstance(self.profile, str) and bool(self.profile.strip()), "profile", self.profile, "must be a profile spec such as 'constant:rate=10'")
        check(isinstance(self.reward, RewardSettings), "reward", self.reward, "must be RewardSettings (or a preset name)")
        one_of("world", self.world, WORLD_POLICIES)
        one_of("observation_dtype", self.observation_dtype, OBSERVATION_DTYPES)
        one_of("observation", self.observation, OBSERVATIONS)


#: Settings under which agents written for another environment run unmodified
#: (docs/migration.md); the keywords given beside ``preset=`` override them.
PRESETS: dict[str, dict[str, Any]] = {
    # FaaSTrainGym's code: Discrete(11) deltas -5..+5, replicas in [1, 10], a -1000 penalty,
    # float64 observations, and done (terminated) after 10 steps.
    "faastraingym": {
        "action_mode": "delta", "max_delta": 5, "min_replicas": 1, "max_replicas": 10, "episode_steps": 10,
        "episode_end": "terminated", "observation_dtype": "float64", "reward": {"preset": "seed", "penalty": -1000.0},
    },
    # DRe-SCale's agents: Discrete(5) deltas -2..+2, up to 24 replicas, a -100 penalty,
    # float64 observations, and done (terminated) after 10 steps.
    "drescale": {
        "action_mode": "delta", "max_delta": 2, "min_replicas": 1, "max_replicas": 24, "episode_steps": 10,
        "episode_end": "terminated", "observation_dtype": "float64", "reward": {"preset": "seed", "penalty": -100.0},
    },
}


def env_settings(preset: str | None = None, **given: Any) -> EnvSettings:
    """The settings of ``preset`` (None: none) overridden by those ``given``; ``reward`` may be
    a preset name, a mapping or RewardSettings."""
    if preset is not None:
        one_of("preset", preset, tuple(PRESETS))
        given = {**PRESETS[preset], **given}
    reward = given.pop("reward", None)
    if isinstance(reward, str):
        reward = {"preset": reward}
    try:
        return EnvSettings(reward=build_settings(RewardSettings, reward, "reward"), **given)
    except TypeError as e:  # an unknown keyword
        raise ConfigError(f"{e}; see EnvSettings for the known settings") from None


OVERLOAD_MODES: tuple[str, ...] = ("reject", "queue")
OverloadMode = Literal["reject", "queue"]


@dataclass(frozen=True)
class SimSettings:
    """The simulated function and the node it runs on (see docs/simulator.md).

    The defaults are the calibration of the local cluster's default function (``api``: a
    0.2 s downstream wait and a little CPU, two requests in flight per replica, 429 past them),
    shipped as ``faastrain_async/calibration/data/api.json``.

    ``sim={"calibration": PATH}`` starts from a calibration file's values instead of these
    defaults (see :mod:`faastrain_async.calibration`); keys given beside it win.
    """

    # -- the function -------------------------------------------------------------------------
    #: Mean and coefficient of variation of one request's latency when it runs alone (lognormal).
    service_time: float = 0.204
    service_time_cv: float = 0.15
    #: Requests one replica runs at once (the watchdog's ``max_inflight``).
    concurrency: int = 2
    #: Most requests per second one replica completes; None: ``concurrency / service_time``.
    replica_rate: float | None = 10.0
    #: Past a replica's capacity: ``"reject"`` answers at once with an error (429, as a watchdog
    #: with ``max_inflight`` does), ``"queue"`` keeps the request waiting up to ``request_timeout``.
    overload: OverloadMode = "reject"
    #: A request that has waited this long fails (a timeout, seconds).
    request_timeout: float = 10.0
    #: CPU seconds one request uses, and the CPU a replica requests (cores).
    cpu_per_request: float = 0.0028
    cpu_request: float = 0.1
    #: CPU a ready replica uses when idle (cores); it also takes from ``cores``.
    idle_cpu: float = 0.0025
    #: Memory a replica requests, uses when idle, and adds per in-flight request (MiB).
    mem_request_mib: float = 128.0
    mem_base_mib: float = 58.3
    mem_per_request_mib: float = 2.7
    # -- replicas -------------------------------------------------------------------------------
    #: Mean and coefficient of variation of a new replica's cold start (lognormal; cv 0 = fixed).
    cold_start: float = 0.68
    cold_start_cv: float = 0.65
    #: Mean and coefficient of variation of a removed replica's time to be deleted (lognormal),
    #: at most ``grace_period``.
    termination: float = 0.23
    termination_cv: float = 0.79
    grace_period: float = 5.0
    # -- the node -------------------------------------------------------------------------------
    #: CPU the replicas share (cores); past it requests slow down and capacity stops growing
    #: with replicas. None: unlimited.
    cores: float | None = None
    # -- the simulation -------------------------------------------------------------------------
    #: Integration step of the fluid queue and of the arrival draws (seconds).
    tick: float = 1.0
    #: None runs on a virtual clock (microseconds a step); a number runs on a real clock that
    #: many times faster than wall time (exercises the live engine path without a cluster).
    time_scale: float | None = None
    #: The calibration file these values came from (provenance only; None: the defaults).
    calibration: str | None = None

    def __post_init__(self) -> None:
        for name, bound in _SIM_BOUNDS:
            if getattr(self, name) is not None or name not in _SIM_OPTIONAL:
                bounded(name, getattr(self, name), bound)
        one_of("overload", self.overload, OVERLOAD_MODES)
        check(self.calibration is None or isinstance(self.calibration, str), "calibration", self.calibration, "must be a file path")

    def with_cores(self, cores: float) -> SimSettings:
        """These settings with the node's ``cores`` replaced (a function's share of a shared
        node, set every window: a copy that checks only the new value)."""
        bounded("cores", cores, "cpu")
        copy = object.__new__(SimSettings)
        copy.__dict__.update(self.__dict__)
        object.__setattr__(copy, "cores", float(cores))
        return copy

    @property
    def per_replica_rate(self) -> float:
        """Requests per second one replica completes at most."""
        return self.replica_rate if self.replica_rate is not None else self.concurrency / self.service_time


#: Each numeric field of SimSettings and the bound (in BOUNDS) it keeps to.
_SIM_BOUNDS: tuple[tuple[str, str | None], ...] = (
    ("service_time", None), ("service_time_cv", "cv"), ("concurrency", None), ("replica_rate", None),
    ("request_timeout", None), ("cpu_per_request", "cpu"), ("cpu_request", "cpu"), ("idle_cpu", None),
    ("mem_request_mib", None), ("mem_base_mib", "mib"), ("mem_per_request_mib", "mib"),
    ("cold_start", "delay"), ("cold_start_cv", "cv"), ("termination", "delay"), ("termination_cv", "cv"),
    ("grace_period", "delay"), ("cores", "cpu"), ("tick", None), ("time_scale", None),
)  # fmt: skip
#: The fields of SimSettings that may be None.
_SIM_OPTIONAL = ("replica_rate", "cores", "time_scale")

S = TypeVar("S")


def build_settings(cls: type[S], value: S | Mapping[str, Any] | None, what: str) -> S:
    """``value`` as a ``cls``: itself, built from a mapping, or the defaults for None."""
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(value) - known)
        if unknown:
            raise ConfigError(f"unknown {what} setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**value)
    raise ConfigError(f"{what} settings must be a {cls.__name__} or a mapping, got {type(value).__name__}")
