"""The built-in policies: random, hold, script (a fixed sequence), and threshold (the Kubernetes HPA rule)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from faastrain_async.config import EnvSettings
from faastrain_async.env.actions import action_count, action_for
from faastrain_async.errors import ConfigError
from faastrain_async.policies.base import CPU, current_replicas, no_more, proportional, take_float


class RandomPolicy:
    """Uniformly random actions (a seed makes them repeatable)."""

    name = "random"

    def __init__(self, settings: EnvSettings) -> None:
        self._n = action_count(settings)
        self._rng = np.random.default_rng()

    @classmethod
    def from_options(cls, settings: EnvSettings, options: dict[str, str]) -> RandomPolicy:
        no_more(options, "random", "")
        return cls(settings)

    def reset(self, seed: int | None = None) -> None:
        if seed is not None:
            self._rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray, info: Mapping[str, Any]) -> int:
        return int(self._rng.integers(self._n))


class HoldPolicy:
    """Never scales (the no-op action); needs ``action_mode="delta"``."""

    name = "hold"

    def __init__(self, settings: EnvSettings) -> None:
        if settings.action_mode != "delta":
            raise ConfigError(f"policy hold needs a no-op action; action_mode={settings.action_mode!r} has none (use 'delta')")
        self._noop = settings.max_delta

    @classmethod
    def from_options(cls, settings: EnvSettings, options: dict[str, str]) -> HoldPolicy:
        no_more(options, "hold", "")
        return cls(settings)

    def reset(self, seed: int | None = None) -> None:
        return None

    def act(self, obs: np.ndarray, info: Mapping[str, Any]) -> int:
        return self._noop


class ScriptPolicy:
    """A fixed sequence of replica deltas, repeated: ``script:deltas=3/2/0/-1`` scales by +3,
    then +2, then holds, then -1, then starts again (each reached as closely as one action
    allows). The same actions whatever it observes: for comparing worlds step by step."""

    name = "script"

    def __init__(self, settings: EnvSettings, deltas: tuple[int, ...]) -> None:
        if not deltas:
            raise ConfigError("policy script needs at least one delta: script:deltas=3/2/0/-1")
        self.settings = settings
        self.deltas = deltas
        self._next = 0

    @classmethod
    def from_options(cls, settings: EnvSettings, options: dict[str, str]) -> ScriptPolicy:
        text = options.pop("deltas", None) or options.pop("value", None)
        no_more(options, "script", "deltas")
        if not text:
            raise ConfigError("policy script needs its deltas: script:deltas=3/2/0/-1")
        try:
            deltas = tuple(int(part) for part in text.split("/"))
        except ValueError:
            raise ConfigError(f"policy script: deltas={text!r} must be integers separated by '/', e.g. 3/2/0/-1") from None
        return cls(settings, deltas)

    def reset(self, seed: int | None = None) -> None:
        self._next = 0

    def act(self, obs: np.ndarray, info: Mapping[str, Any]) -> int:
        current = current_replicas(obs, info)
        delta = self.deltas[self._next % len(self.deltas)]
        self._next += 1
        return action_for(current + delta, current, self.settings)


class ThresholdPolicy:
    """The Kubernetes HPA rule on CPU utilisation.

    ``desired = ceil(current · utilisation / target)``, unchanged while
    ``|utilisation / target − 1| <= tolerance`` (0.1, as the HPA's default), clamped to the
    replica bounds and reached as closely as one action allows.
    """

    name = "threshold"

    def __init__(self, settings: EnvSettings, *, target: float = 0.7, tolerance: float = 0.1) -> None:
        self.settings = settings
        self.target = target
        self.tolerance = tolerance

    @classmethod
    def from_options(cls, settings: EnvSettings, options: dict[str, str]) -> ThresholdPolicy:
        spec = "threshold"
        target = take_float(options, "target", 0.7, spec=spec)
        tolerance = take_float(options, "tolerance", 0.1, low=-1e-12, spec=spec)
        no_more(options, spec, "target, tolerance")
        return cls(settings, target=target, tolerance=tolerance)

    def reset(self, seed: int | None = None) -> None:
        return None

    def desired(self, current: int, utilisation: float) -> int:
        return proportional(current, utilisation, self.target, self.tolerance, self.settings)

    def act(self, obs: np.ndarray, info: Mapping[str, Any]) -> int:
        current = current_replicas(obs, info)
        return action_for(self.desired(current, float(obs[CPU])), current, self.settings)
