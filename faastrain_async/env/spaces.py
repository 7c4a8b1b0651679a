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


def observation_space(settings: EnvSettings) -> spaces.Box:
    """A box with the bounds each entry really has (a count or a use has no upper one)."""
    dtype = np.dtype(settings.observation_dtype)
    low = np.zeros(len(OBSERVATION_FIELDS), dtype=dtype)
    high = np.array([np.inf, 100.0, np.inf, settings.max_replicas, np.inf, np.inf], dtype=dtype)
    return spaces.Box(low=low, high=high, dtype=dtype)


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
