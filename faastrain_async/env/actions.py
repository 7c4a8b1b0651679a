"""From an action to a replica target, and back (for policies that think in targets)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from faastrain_async.config import EnvSettings
from faastrain_async.errors import ConfigError


class ScaleRequest(NamedTuple):
    """What an action asks for and what is applied."""

    delta: int
    requested: int  # current + delta, before clamping
    target: int  # clamped to [min_replicas, max_replicas]

    @property
    def clamped(self) -> bool:
        return self.requested != self.target


def action_count(settings: EnvSettings) -> int:
    return 2 * settings.max_delta + 1 if settings.action_mode == "delta" else 2


def delta_of(action: object, settings: EnvSettings) -> int:
    """The replica delta of ``action``; raises ConfigError for an action outside the space."""
    n = action_count(settings)
    if type(action) is int and 0 <= action < n:  # the common case, checked first: it is cheap
        a = action
    elif isinstance(action, np.ndarray) and action.shape == ():
        return delta_of(action.item(), settings)
    elif isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)) or not 0 <= action < n:
        raise ConfigError(
            f"action {action!r} is outside the action space Discrete({n}) "
            f"({settings.action_mode} mode): expected an integer in [0, {n - 1}]"
        )
    else:
        a = int(action)
    if settings.action_mode == "delta":
        return a - settings.max_delta
    return settings.step_size if a == 1 else -settings.step_size


def scale_request(action: object, current: int, settings: EnvSettings) -> ScaleRequest:
    """Map ``action`` to a target clamped into ``[min_replicas, max_replicas]``."""
    delta = delta_of(action, settings)
    requested = current + delta
    target = min(max(requested, settings.min_replicas), settings.max_replicas)
    return ScaleRequest(delta=delta, requested=requested, target=target)


def action_for(desired: int, current: int, settings: EnvSettings) -> int:
    """The action that moves ``current`` closest to ``desired`` replicas."""
    delta = desired - current
    if settings.action_mode == "delta":
        return max(-settings.max_delta, min(settings.max_delta, delta)) + settings.max_delta
    return 1 if delta > 0 else 0 if delta < 0 else (0 if current > settings.min_replicas else 1)
