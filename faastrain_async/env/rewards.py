"""Rewards: pure functions of one window and the replica state that held during it.

Each preset is one formula over plain numbers (``values``), written with arithmetic and the
few functions of ``xp`` so that it serves one window (floats) and a batch (numpy arrays, the
vector simulator) alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from faastrain_async.backends.sim.equations import FLOATS
from faastrain_async.config import EnvSettings
from faastrain_async.events import WindowMetrics


def seed_values(thr: Any, exec_s: Any, cpu: Any, mem: Any, replicas: Any, settings: EnvSettings, xp: Any = FLOATS) -> Any:
    """FaaSTrainGym's reward: ``0.75·thr² + 0.125·cpu·100 + 0.125·mem·100 − 0.25·(replicas − min)²``.

    ``thr`` is the throughput in percent, so the first term reaches 7,500 and dominates.
    """
    extra = replicas - settings.min_replicas
    return 0.75 * thr * thr + 12.5 * cpu + 12.5 * mem - 0.25 * extra * extra


def normalized_values(thr: Any, exec_s: Any, cpu: Any, mem: Any, replicas: Any, settings: EnvSettings, xp: Any = FLOATS) -> Any:
    """A reward in [−1, 0.75] per step that weighs service against cost.

    ``0.5·success + 0.25·min(cpu, 1) − 0.25·cost − 0.25·lateness`` where ``success`` is the
    fraction of requests that succeeded, ``cost = (replicas − min) / (max − min)`` and
    ``lateness = min(1, max(0, exec / slo − 1))`` (0 while the mean execution time meets the
    objective, 1 from twice the objective on).
    """
    span = settings.max_replicas - settings.min_replicas
    cost = (replicas - settings.min_replicas) / span if span > 0 else 0.0 * replicas
    lateness = xp.minimum(1.0, xp.maximum(0.0, exec_s / settings.reward.slo_seconds - 1.0))
    return 0.5 * thr / 100.0 + 0.25 * xp.minimum(cpu, 1.0) - 0.25 * xp.minimum(cost, 1.0) - 0.25 * lateness


VALUES = {"seed": seed_values, "normalized": normalized_values}


def reward(metrics: WindowMetrics, replicas: float, settings: EnvSettings, applied: bool) -> float:
    """The reward of the configured preset for one window, plus the penalty (−1000 for
    "seed", −0.5 for "normalized" by default) when the scaling could not be applied."""
    value = VALUES[settings.reward.preset](
        metrics.throughput_pct, metrics.mean_exec_s or 0.0, metrics.cpu_util, metrics.mem_util, replicas, settings
    )
    return float(value) + (0.0 if applied else settings.reward.effective_penalty)


def rewards(
    thr: np.ndarray, exec_s: np.ndarray, cpu: np.ndarray, mem: np.ndarray, replicas: np.ndarray, applied: np.ndarray, settings: EnvSettings
) -> np.ndarray:
    """The reward of a batch of windows (``exec_s`` 0 where nothing was served)."""
    value = VALUES[settings.reward.preset](thr, exec_s, cpu, mem, replicas, settings, np)
    return np.where(applied, value, value + settings.reward.effective_penalty)
