"""Baseline autoscalers: the rules production platforms ship, reimplemented on what a step shows.

Each policy sees only the observation (``spaces.OBSERVATION_FIELDS``) and the step's ``info``,
decides a desired replica count by its platform's documented rule, and takes the action that
moves the current target closest to it (``actions.action_for``; one step moves at most
``max_delta`` replicas, or ``step_size`` in "updown" mode). See docs/baselines.md for the
sources, the defaults and where a rule had to be adapted to one-window-per-step observations.

Time windows are given in seconds, as the platforms document them, and converted to a number
of steps with the env's ``interval``: ``ceil(window / interval)``, at least 1. A window shorter
than one interval (Knative's 6 s panic window, OpenFaaS's 10 s rate) therefore acts on the one
window available, the last step's.

Specs: ``hpa``, ``kpa``, ``openfaas``, ``static:4`` and ``best-static`` (options after ``:``
as ``key=value`` separated by ``,``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from faastrain_async.config import EnvSettings
from faastrain_async.env.actions import action_for
from faastrain_async.errors import ConfigError
from faastrain_async.policies.base import (
    CPU,
    EXEC,
    REPLICAS,
    REQUESTS,
    THROUGHPUT,
    clamp,
    current_replicas,
    no_more,
    proportional,
    take_float,
    take_int,
)


def window_steps(seconds: float, interval: float) -> int:
    """Steps a window of ``seconds`` spans: ``ceil(seconds / interval)``, at least 1."""
    return max(1, math.ceil(seconds / interval - 1e-9))


def _take_choice(options: dict[str, str], key: str, default: str, allowed: tuple[str, ...], spec: str) -> str:
    value = options.pop(key, default).strip().lower()
    if value not in allowed:
        raise ConfigError(f"policy {spec}: {key}={value!r} is not valid; allowed: {', '.join(allowed)}")
    return value


class HPAPolicy:
    """Kubernetes Horizontal Pod Autoscaler (autoscaling/v2), on CPU or on requests per replica.

    ``desired = ceil(current · metric / target)``, unchanged while ``|metric / target − 1| <=
    tolerance`` (0.1). Scale-down is stabilised: the target never drops below the highest
    recommendation of the last ``downscale_window`` seconds (300 s). Scale-up acts at once
    (the HPA's default scale-up stabilisation is 0 s). A window whose metrics are stale
    (``info["metrics_stale"]``) gives no recommendation, as the HPA skips a missing metric.

    Options: ``metric=cpu|rps`` (cpu), ``target`` (0.7 of the CPU request for cpu; 3.5 req/s
    per replica for rps, 70% of the default simulated replica's 5 req/s), ``tolerance=0.1``,
    ``downscale_window=300``.
    """

    name = "hpa"

    def __init__(
        self,
        settings: EnvSettings,
        *,
        metric: str = "cpu",
        target: float | None = None,
        tolerance: float = 0.1,
        downscale_window: float = 300.0,
    ) -> None:
        if metric not in ("cpu", "rps"):
            raise ConfigError(f"policy hpa: metric={metric!r} is not valid; allowed: cpu, rps")
        self.settings = settings
        self.metric = metric
        self.target = target if target is not None else (0.7 if metric == "cpu" else 3.5)
        self.tolerance = tolerance
        self.downscale_window = downscale_window
        self._recommendations: deque[int] = deque(maxlen=window_steps(downscale_window, settings.interval))

    @classmethod
    def from_options(cls, settings: EnvSettings, options: dict[str, str]) -> HPAPolicy:
        spec = "hpa"
        metric = _take_choice(options, "metric", "cpu", ("cpu", "rps"), spec)
        target = take_float(options, "target", 0.7 if metric == "cpu" else 3.5, spec=spec)
        tolerance = take_float(options, "tolerance", 0.1, low=-1e-12, spec=spec)
        window = take_float(options, "downscale_window", 300.0, low=-1e-12, spec=spec)
        no_more(options, spec, "metric, target, tolerance, downscale_window")
        return cls(settings, metric=metric, target=target, tolerance=tolerance, downscale_window=window)

    def reset(self, seed: int | None = None) -> None:
        self._recommendations.clear()

    def metric_value(self, obs: np.ndarray, current: int) -> float:
        """The per-replica metric the rule compares with ``target``."""
        if self.metric == "cpu":
            return float(obs[CPU])
        return float(obs[REQUESTS]) / self.settings.interval / max(current, 1)

    def recommend(self, current: int, value: float) -> int:
        """One window's recommendation (before stabilisation)."""
        return proportional(current, value, self.target, self.tolerance, self.settings)

    def desired(self, current: int, value: float | None) -> int:
        """The stabilised desired count; ``value`` None (a missing metric) adds no recommendation."""
        if value is not None:
            self._recommendations.append(self.recommend(current, value))
        if not self._recommendations:
            return current
        latest = self._recommendations[-1]
        if latest > current:
            return latest
        # Scale down only to the highest recommendation of the window: a dip must last.
        return min(current, max(self._recommendations))

    def act(self, obs: np.ndarray, info: Mapping[str, Any]) -> int:
        current = current_replicas(obs, info)
        value = None if info.get("metrics_stale") else self.metric_value(obs, current)
        return action_for(self.desired(current, value), current, self.settings)


class KPAPolicy:
    """Knative Pod Autoscaler on concurrency, with its stable and panic windows.

    Observed concurrency comes from Little's law, ``L = λ · W``: the window's completed
    requests per second times their mean execution time (which includes queueing). A
    window in which requests completed but none succeeded has no execution time; it uses
    the last measured one, or adds no sample if there is none yet.

    ``desired_stable = ceil(mean concurrency over the stable window / target)``, the same
    over the panic window for ``desired_panic``; both are bounded by the rates:
    ``[floor(ready / max_scale_down_rate), ceil(ready · max_scale_up_rate)]``. Panic mode
    starts when ``desired_panic / ready >= panic_threshold_pct / 100`` and ends once the
    panic window has stayed under the threshold for longer than the stable window; in panic
    the autoscaler never scales down (it keeps the highest panic count).

    Options: ``target=0.7`` (concurrent requests per replica: Knative's 70% target
    utilisation of a replica that serves one request at a time, the simulator's default),
    ``stable_window=60``, ``panic_window_pct=10`` (6 s), ``panic_threshold_pct=200``,
    ``max_scale_up_rate=1000``, ``max_scale_down_rate=2``.
    """

    name = "kpa"

    def __init__(
        self,
        settings: EnvSettings,
        *,
        target: float = 0.7,
        stable_window: float = 60.0,
        panic_window_pct: float = 10.0,
        panic_threshold_pct: float = 200.0,
        max_scale_up_rate: float = 1000.0,
        max_scale_down_rate: float = 2.0,
    ) -> None:
        self.settings = settings
        self.target = target
        self.stable_window = stable_window
        self.panic_window = stable_window * panic_window_pct / 100.0
        self.panic_threshold = panic_threshold_pct / 100.0
        self.max_scale_up_rate = max_scale_up_rate
        self.max_scale_down_rate = max_scale_down_rate
        self._stable: deque[float] = deque(maxlen=window_steps(stable_window, settings.interval))
        self._panic_steps = window_steps(self.panic_window, settings.interval)
        self.reset()

    @classmethod
    def from_options(cls, settings: EnvSettings, options: dict[str, str]) -> KPAPolicy:
        spec = "kpa"
        kwargs = {
            "target": take_float(options, "target", 0.7, spec=spec),
            "stable_window": take_float(options, "stable_window", 60.0, spec=spec),
            "panic_window_pct": take_float(options, "panic_window_pct", 10.0, spec=spec),
            "panic_threshold_pct": take_float(options, "panic_threshold_pct", 200.0, spec=spec),
            "max_scale_up_rate": take_float(options, "max_scale_up_rate", 1000.0, low=1.0 - 1e-12, spec=spec),
            "max_scale_down_rate": take_float(options, "max_scale_down_rate", 2.0, low=1.0 - 1e-12, spec=spec),
        }
        no_more(options, spec, ", ".join(kwargs))
        if kwargs["panic_window_pct"] > 100:
            raise ConfigError(f"policy kpa: panic_window_pct={kwargs['panic_window_pct']:g} must be a percentage of the stable window in (0, 100]")
        return cls(settings, **kwargs)

    def reset(self, seed: int | None = None) -> None:
        self._stable.clear()
        self._exec: float | None = None
        self._step = 0
        self._panic_since: int | None = None  # step of the last window over the threshold
        self._max_panic = 0

    @property
    def panicking(self) -> bool:
        return self._panic_since is not None

    def concurrency(self, obs: np.ndarray, info: Mapping[str, Any]) -> float | None:
        """Little's law on one window; None when it cannot be estimated."""
        requests = float(obs[REQUESTS])
        if requests <= 0:
            return 0.0  # no arrivals completed: nothing was in the system for long
        if not info.get("exec_time_missing"):
            self._exec = float(obs[EXEC])
        if self._exec is None:
            return None
        return requests / self.settings.interval * self._exec

    def desired(self, current: int, ready: float, sample: float | None) -> int:
        """Knative's decision after adding one concurrency ``sample`` (None: no data)."""
        self._step += 1
        if sample is not None:
            self._stable.append(sample)
        if not self._stable:
            return current
        pods = max(1.0, ready)
        stable = float(np.mean(self._stable))
        panic = float(np.mean(list(self._stable)[-self._panic_steps :]))
        up = math.ceil(self.max_scale_up_rate * pods - 1e-9)
        down = math.floor(pods / self.max_scale_down_rate + 1e-9)
        want_stable = math.ceil(stable / self.target - 1e-9)
        want_panic = math.ceil(panic / self.target - 1e-9)
        over = want_panic / pods >= self.panic_threshold
        if over:
            self._panic_since = self._step  # enter, or extend, panic mode
        elif self.panicking and (self._step - self._panic_since) * self.settings.interval > self.stable_window:  # type: ignore[operator]
            self._panic_since = None
            self._max_panic = 0
        desired = min(max(want_stable, down), up)
        if self.panicking:
            self._max_panic = max(self._max_panic, min(max(want_panic, down), up))
            desired = self._max_panic
        return clamp(desired, self.settings)

    def act(self, obs: np.ndarray, info: Mapping[str, Any]) -> int:
        current = current_replicas(obs, info)
        sample = None if info.get("metrics_stale") else self.concurrency(obs, info)
        return action_for(self.desired(current, float(obs[REPLICAS]), sample), current, self.settings)


class OpenFaaSPolicy:
    """OpenFaaS Community Edition's alert-based scaling.

    The gateway's Prometheus alert fires while the function's rate of successful invocations
    over ``window`` seconds (10) exceeds ``threshold`` req/s (5); each alert notification
    scales up by ``ceil(max_replicas · factor / 100)`` replicas (factor 20%), up to the maximum;
    when the alert resolves, the function goes back to its minimum replicas. One step stands
    for one notification (Alertmanager repeats a firing alert about every 30 s).

    Options: ``threshold=5``, ``window=10``, ``factor=20``.
    """

    name = "openfaas"

    def __init__(self, settings: EnvSettings, *, threshold: float = 5.0, window: float = 10.0, factor: float = 20.0) -> None:
        self.settings = settings
        self.threshold = threshold
        self.window = window
        self.step = max(1, math.ceil(settings.max_replicas * factor / 100.0 - 1e-9))
        self._rates: deque[float] = deque(maxlen=window_steps(window, settings.interval))

    @classmethod
    def from_options(cls, settings: EnvSettings, options: dict[str, str]) -> OpenFaaSPolicy:
        spec = "openfaas"
        threshold = take_float(options, "threshold", 5.0, spec=spec)
        window = take_float(options, "window", 10.0, spec=spec)
        factor = take_float(options, "factor", 20.0, spec=spec)
        if factor > 100:
            raise ConfigError(f"policy {spec}: factor={factor:g} must be a percentage in (0, 100]")
        no_more(options, spec, "threshold, window, factor")
        return cls(settings, threshold=threshold, window=window, factor=factor)

    def reset(self, seed: int | None = None) -> None:
        self._rates.clear()

    def firing(self, successes: float) -> bool:
        """Add one window's successful requests; True while the alert fires."""
        self._rates.append(successes / self.settings.interval)
        return float(np.mean(self._rates)) > self.threshold

    def desired(self, current: int, successes: float | None) -> int:
        if successes is None:
            return current  # no data: the alert neither fires nor resolves
        if self.firing(successes):
            return min(current + self.step, self.settings.max_replicas)
        return self.settings.min_replicas

    def act(self, obs: np.ndarray, info: Mapping[str, Any]) -> int:
        current = current_replicas(obs, info)
        successes = None if info.get("metrics_stale") else float(info.get("successes", obs[REQUESTS] * obs[THROUGHPUT] / 100.0))
        return action_for(self.desired(current, successes), current, self.settings)


class StaticPolicy:
    """A fixed replica count: ``static:4`` (or ``static:replicas=4``), reached from the initial one."""

    name = "static"

    def __init__(self, settings: EnvSettings, replicas: int) -> None:
        self.settings = settings
        self.replicas = replicas
        self.name = f"static:{replicas}"

    @classmethod
    def from_options(cls, settings: EnvSettings, options: dict[str, str]) -> StaticPolicy:
        spec = "static"
        if "value" in options and "replicas" in options:
            raise ConfigError("policy static: give the count once, as static:4 or static:replicas=4")
        key = "value" if "value" in options else "replicas"
        replicas = take_int(options, key, low=settings.min_replicas, high=settings.max_replicas, spec=spec)
        no_more(options, spec, "replicas (static:N)")
        if replicas is None:
            raise ConfigError(f"policy static needs a replica count, e.g. static:4 (in [{settings.min_replicas}, {settings.max_replicas}])")
        return cls(settings, replicas)

    def reset(self, seed: int | None = None) -> None:
        return None

    def act(self, obs: np.ndarray, info: Mapping[str, Any]) -> int:
        current = current_replicas(obs, info)
        return action_for(self.replicas, current, self.settings)


class BestStaticPolicy(StaticPolicy):
    """The best fixed replica count in hindsight, for the workload it is evaluated on.

    ``faastrain evaluate`` runs ``static:N`` for every N in the replica bounds on the same
    seeded episodes and calls :meth:`choose` with their mean total rewards; the highest wins
    (the fewest replicas on a tie). Used without that (``faastrain run``) it raises.
    """

    name = "best-static"

    def __init__(self, settings: EnvSettings) -> None:
        self.settings = settings
        self.replicas = 0  # not chosen yet
        self.candidates = tuple(range(settings.min_replicas, settings.max_replicas + 1))

    @classmethod
    def from_options(cls, settings: EnvSettings, options: dict[str, str]) -> BestStaticPolicy:
        no_more(options, "best-static", "")
        return cls(settings)

    def choose(self, scores: Mapping[int, float]) -> int:
        """Fix the count with the highest score (mean total reward); returns it."""
        missing = [n for n in self.candidates if n not in scores]
        if missing:
            raise ConfigError(f"best-static: no score for replica count(s) {missing}")
        self.replicas = max(self.candidates, key=lambda n: (scores[n], -n))
        return self.replicas

    def reset(self, seed: int | None = None) -> None:
        self._check_chosen()

    def act(self, obs: np.ndarray, info: Mapping[str, Any]) -> int:
        self._check_chosen()
        return super().act(obs, info)

    def _check_chosen(self) -> None:
        if not self.replicas:
            raise ConfigError(
                "best-static picks its replica count in hindsight from evaluations of every static count, "
                "which `faastrain evaluate` runs; elsewhere use static:N"
            )
