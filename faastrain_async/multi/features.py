"""What a trained multi-agent policy sees of each agent: its function's window, encoded as the
single env's features (:mod:`faastrain_async.training.features`), with the node's free cores
beside them when the env observes them. Needs no training library, so RLlib's env runners and
Stable-Baselines3's shared-policy env both use it."""

from __future__ import annotations

from typing import Any

import numpy as np

from faastrain_async.multi.parallel import FaaSParallelEnv
from faastrain_async.training.features import PER_STEP, FeatureEncoder


class AgentFeatures:
    """The features of every agent of one environment, with each agent's own history."""

    def __init__(self, env: FaaSParallelEnv, history: int = 2) -> None:
        core = env.core
        self.agents = list(env.possible_agents)
        self.cores = core.cores
        self.free = core.observe_free_cores
        self.history = history
        self.encoders = {a: FeatureEncoder(core.settings, history) for a in self.agents}
        self.size = (PER_STEP + (1 if self.free else 0)) * history
        self._free: dict[str, list[float]] = {}

    def reset(self) -> None:
        for encoder in self.encoders.values():
            encoder.reset()
        self._free = {}

    def __call__(self, agent: str, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        features = self.encoders[agent](obs[:6], info)
        if not self.free:
            return features
        assert self.cores is not None  # observe_free_cores needs them
        past = self._free.setdefault(agent, [])
        past.insert(0, float(obs[6]) / self.cores)
        if len(past) == 1:
            past.extend(past * (self.history - 1))
        del past[self.history :]
        return np.concatenate([features, np.asarray(past, dtype=np.float32)])
