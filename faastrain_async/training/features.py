"""What a trained model sees: the raw observation rescaled, with the previous step's beside it.

The raw observation mixes scales (requests per window in the hundreds, utilisations near 1),
and one window cannot show whether the load is rising or falling, so the model gets a fixed,
documented encoding of the last ``history`` steps instead. Training (``FeatureWrapper``) and
evaluation (``ModelPolicy``) use this one encoder, and a saved model records its parameters.

Per step, in order: ``log1p(exec_time_s)``, ``throughput_pct / 100``,
``log1p(requests / interval) / 4`` (about 1 at 50 req/s), ``replicas / max_replicas``,
``min(cpu_util, 2)``, ``min(mem_util, 2)``, and 1.0 when the window had no completed request
to time (``info["exec_time_missing"]``), else 0.0. With ``observation="rich"`` each step also
has the rich columns (env/observations.py): ``log1p(rate) / 4`` for each previous window's rate,
``target / max_replicas``, ``pending / max_replicas``, ``terminating / max_replicas``,
``log1p(settle_s)``, ``log1p(since_scaling_s / interval)`` and ``log1p(p95_exec_s)``. The newest
step comes first; at a reset the history is filled with the reset's observation.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from faastrain_async.config import EnvSettings
from faastrain_async.env.spaces import LAGS, OBSERVATION_FIELDS, RICH_FIELDS
from faastrain_async.errors import ConfigError

#: Bumped when the encoding changes; a saved model records the version it was trained with.
FEATURES_VERSION = 1
#: Features per step of the default observation.
PER_STEP = 7


def per_step(settings: EnvSettings) -> int:
    """Features per step for the env's observation (:data:`PER_STEP`, more for the rich one)."""
    return PER_STEP + (len(RICH_FIELDS) if settings.observation == "rich" else 0)


def encode(obs: np.ndarray, missing: np.ndarray, settings: EnvSettings) -> np.ndarray:
    """The encoding of a batch of steps: observations (k, columns) and their ``exec_time_missing``
    flags (k,) as features (k, :func:`per_step`)."""
    rich = settings.observation == "rich"
    obs = np.asarray(obs, dtype=np.float64).reshape(-1, len(OBSERVATION_FIELDS) + (len(RICH_FIELDS) if rich else 0))
    out = np.empty((len(obs), per_step(settings)), dtype=np.float32)
    out[:, 0] = np.log1p(np.maximum(obs[:, 0], 0.0))
    out[:, 1] = obs[:, 1] / 100.0
    out[:, 2] = np.log1p(np.maximum(obs[:, 2], 0.0) / settings.interval) / 4.0
    out[:, 3] = obs[:, 3] / settings.max_replicas
    out[:, 4] = np.minimum(obs[:, 4], 2.0)
    out[:, 5] = np.minimum(obs[:, 5], 2.0)
    out[:, 6] = np.asarray(missing, dtype=bool).reshape(-1)
    if rich:
        extra = obs[:, len(OBSERVATION_FIELDS) :]
        out[:, 7 : 7 + LAGS] = np.log1p(np.maximum(extra[:, :LAGS], 0.0)) / 4.0
        out[:, 7 + LAGS : 10 + LAGS] = extra[:, LAGS : LAGS + 3] / settings.max_replicas
        out[:, 10 + LAGS] = np.log1p(np.maximum(extra[:, LAGS + 3], 0.0))
        out[:, 11 + LAGS] = np.log1p(np.maximum(extra[:, LAGS + 4], 0.0) / settings.interval)
        out[:, 12 + LAGS] = np.log1p(np.maximum(extra[:, LAGS + 5], 0.0))
    return out


class FeatureEncoder:
    """Turns (observation, info) pairs into feature vectors; remembers the last ``history``."""

    def __init__(self, settings: EnvSettings, history: int = 2) -> None:
        if not isinstance(history, int) or history < 1:
            raise ConfigError(f"feature history={history!r} must be an integer >= 1")
        self.settings = settings
        self.history = history
        self.size = per_step(settings) * history
        self._steps: deque[np.ndarray] = deque(maxlen=history)

    def reset(self) -> None:
        """Forget the past (a new episode)."""
        self._steps.clear()

    def one(self, obs: np.ndarray, info: Mapping[str, Any]) -> np.ndarray:
        """The encoding of one step."""
        return encode(obs, np.asarray([bool(info.get("exec_time_missing"))]), self.settings)[0]

    def __call__(self, obs: np.ndarray, info: Mapping[str, Any]) -> np.ndarray:
        step = self.one(obs, info)
        if not self._steps:
            self._steps.extend([step] * self.history)
        else:
            self._steps.append(step)
        return np.concatenate(list(reversed(self._steps)))

    def space(self) -> gym.spaces.Box:
        return gym.spaces.Box(low=-np.inf, high=np.inf, shape=(self.size,), dtype=np.float32)


class BatchFeatures:
    """:class:`FeatureEncoder` for a batch of environments: a history per environment."""

    def __init__(self, settings: EnvSettings, n: int, history: int = 2) -> None:
        FeatureEncoder(settings, history)  # the same checks
        self.settings = settings
        self.history = history
        self.steps = np.zeros((n, history, per_step(settings)), dtype=np.float32)  # newest first

    def start(self, rows: np.ndarray | slice, obs: np.ndarray, missing: np.ndarray) -> np.ndarray:
        """A new episode in ``rows``: the history is filled with its first step."""
        self.steps[rows] = encode(obs, missing, self.settings)[:, None, :]
        return self.steps[rows].reshape(len(self.steps[rows]), -1)

    def add(self, obs: np.ndarray, missing: np.ndarray) -> np.ndarray:
        """The next step of every environment; the features of each."""
        self.steps[:, 1:] = self.steps[:, :-1]
        self.steps[:, 0] = encode(obs, missing, self.settings)
        return self.steps.reshape(len(self.steps), -1).copy()


class FeatureWrapper(gym.Wrapper):
    """A FaaSTrainGym env whose observations are :class:`FeatureEncoder` vectors."""

    def __init__(self, env: gym.Env, settings: EnvSettings, history: int = 2) -> None:
        super().__init__(env)
        self.encoder = FeatureEncoder(settings, history)
        self.observation_space = self.encoder.space()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.encoder.reset()
        return self.encoder(obs, info), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self.encoder(obs, info), float(reward), terminated, truncated, info
