"""Rewards: pure functions of one window and the replica state that held during it."""

from __future__ import annotations

from faastrain_async.config import EnvSettings
from faastrain_async.events import WindowMetrics


def seed_reward(metrics: WindowMetrics, replicas: float, settings: EnvSettings, applied: bool) -> float:
    """FaaSTrainGym's reward: ``0.75·thr² + 0.125·cpu·100 + 0.125·mem·100 − 0.25·(replicas − min)²``.

    ``thr`` is the throughput in percent, so the first term reaches 7,500 and dominates.
    Adds the penalty (−1000 by default) when the scaling could not be applied.
    """
    thr = metrics.throughput_pct
    extra = replicas - settings.min_replicas
    reward = 0.75 * thr * thr + 12.5 * metrics.cpu_util + 12.5 * metrics.mem_util - 0.25 * extra * extra
    return reward + (0.0 if applied else settings.reward.effective_penalty)


def normalized_reward(metrics: WindowMetrics, replicas: float, settings: EnvSettings, applied: bool) -> float:
    """A reward in [−1, 0.75] per step that weighs service against cost.

    ``0.5·success + 0.25·min(cpu, 1) − 0.25·cost − 0.25·lateness`` where ``success`` is the
    fraction of requests that succeeded, ``cost = (replicas − min) / (max − min)`` and
    ``lateness = min(1, max(0, exec / slo − 1))`` (0 while the mean execution time meets the
    objective, 1 from twice the objective on). Adds the penalty (−0.5 by default) when the
    scaling could not be applied.
    """
    span = settings.max_replicas - settings.min_replicas
    cost = (replicas - settings.min_replicas) / span if span > 0 else 0.0
    exec_s = metrics.mean_exec_s or 0.0
    lateness = min(1.0, max(0.0, exec_s / settings.reward.slo_seconds - 1.0))
    success = metrics.throughput_pct / 100.0
    reward = 0.5 * success + 0.25 * min(metrics.cpu_util, 1.0) - 0.25 * min(cost, 1.0) - 0.25 * lateness
    return reward + (0.0 if applied else settings.reward.effective_penalty)


REWARDS = {"seed": seed_reward, "normalized": normalized_reward}


def reward(metrics: WindowMetrics, replicas: float, settings: EnvSettings, applied: bool) -> float:
    """The reward of the configured preset."""
    return REWARDS[settings.reward.preset](metrics, replicas, settings, applied)
