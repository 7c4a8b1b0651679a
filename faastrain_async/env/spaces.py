"""Observation and action spaces, and turning a window into an observation."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from faastrain_async.config import EnvSettings
from faastrain_async.events import WindowMetrics

#: Names of the observation's entries, in order (FaaSTrainGym's six).
OBSERVATION_FIELDS: tuple[str, ...] = (
    "exec_time_s",  # mean execution time of successful requests in the window
    "throughput_pct",  # share of the window's requests that succeeded, percent
    "requests",  # requests completed (successfully or not) in the window
    "replicas",  # ready replicas over the window (time-weighted mean)
    "cpu_util",  # mean CPU use of the ready pods, as a fraction of their CPU request
    "mem_util",  # mean memory use of the ready pods, as a fraction of their memory request
)

#: Previous windows whose request rates the rich observation carries.
LAGS = 3

#: The columns ``observation="rich"`` appends to the six (see env/observations.py).
RICH_FIELDS: tuple[str, ...] = (
    *(f"rate_prev{k}_rps" for k in range(1, LAGS + 1)),
    "target", "pending", "terminating", "settle_s", "since_scaling_s", "p95_exec_s",
)  # fmt: skip


def observation_fields(settings: EnvSettings) -> tuple[str, ...]:
    """The names of the observation's columns, in order, for ``settings.observation``."""
    return OBSERVATION_FIELDS + (RICH_FIELDS if settings.observation == "rich" else ())


def observation_space(settings: EnvSettings) -> spaces.Box:
    """A box with the bounds each entry really has (a count, a use, a rate or a time has no upper one)."""
    dtype = np.dtype(settings.observation_dtype)
    m = float(settings.max_replicas)
    high = [np.inf, 100.0, np.inf, m, np.inf, np.inf]
    if settings.observation == "rich":
        high += [np.inf] * LAGS + [m, m, np.inf, np.inf, np.inf, np.inf]
    return spaces.Box(low=np.zeros(len(high), dtype=dtype), high=np.array(high, dtype=dtype), dtype=dtype)


def action_space(settings: EnvSettings) -> spaces.Discrete:
    """Discrete(2·max_delta + 1) for "delta", Discrete(2) for "updown"."""
    if settings.action_mode == "delta":
        return spaces.Discrete(2 * settings.max_delta + 1)
    return spaces.Discrete(2)


def observe(metrics: WindowMetrics, replicas: float, dtype: str = "float32") -> np.ndarray:
    """The observation for one window; an undefined mean execution time (no request) is 0."""
    return np.array(
        [
            metrics.mean_exec_s or 0.0,
            metrics.throughput_pct,
            metrics.requests,
            replicas,
            metrics.cpu_util,
            metrics.mem_util,
        ],
        dtype=dtype,
    )
