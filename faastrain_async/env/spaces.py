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
    """Float32 box with the bounds each entry really has (a count or a use has no upper one)."""
    inf = np.inf
    low = np.zeros(len(OBSERVATION_FIELDS), dtype=np.float32)
    high = np.array([inf, 100.0, inf, settings.max_replicas, inf, inf], dtype=np.float32)
    return spaces.Box(low=low, high=high, dtype=np.float32)


def action_space(settings: EnvSettings) -> spaces.Discrete:
    """Discrete(2·max_delta + 1) for "delta", Discrete(2) for "updown"."""
    if settings.action_mode == "delta":
        return spaces.Discrete(2 * settings.max_delta + 1)
    return spaces.Discrete(2)


def observe(metrics: WindowMetrics, replicas: float) -> np.ndarray:
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
        dtype=np.float32,
    )
