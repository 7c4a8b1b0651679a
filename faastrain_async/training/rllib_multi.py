"""The multi-agent environment for RLlib's env runners (imported only there: it needs Ray).

:class:`MultiAgentFeatureEnv` is :class:`~faastrain_async.multi.parallel.FaaSParallelEnv` as an
RLlib ``MultiAgentEnv``, each agent observing the features that
:class:`~faastrain_async.multi.shared.AgentFeatures` makes of its function's window (the
single env's encoding, and the node's free cores when the env observes them), so a module
of one agent acts on the single env as ``rllib:PATH,module=AGENT`` does. The episode is
joint: every agent is done when ``__all__`` is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces
from ray.rllib.env.multi_agent_env import MultiAgentEnv

from faastrain_async.multi.features import AgentFeatures
from faastrain_async.multi.parallel import FaaSParallelEnv

#: The module every agent uses with a shared policy.
SHARED_MODULE = "shared"


def agent_features(env: FaaSParallelEnv, history: int) -> AgentFeatures:
    return AgentFeatures(env, history)


class MultiAgentFeatureEnv(MultiAgentEnv):  # type: ignore[misc]
    """Several functions on one cluster, one agent each, with feature observations."""

    def __init__(self, env: FaaSParallelEnv, history: int = 2) -> None:
        super().__init__()
        self.env = env
        self.features = agent_features(env, history)
        self.possible_agents = list(env.possible_agents)
        self.agents = list(self.possible_agents)
        box = spaces.Box(low=-np.inf, high=np.inf, shape=(self.features.size,), dtype=np.float32)
        self.observation_spaces = {a: box for a in self.possible_agents}
        self.action_spaces = {a: env.action_space(a) for a in self.possible_agents}

    def _observe(self, obs: Mapping[str, np.ndarray], infos: Mapping[str, Any]) -> dict[str, np.ndarray]:
        return {a: self.features(a, obs[a], infos[a]) for a in obs}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        obs, infos = self.env.reset(seed=seed, options=options)
        self.features.reset()
        self.agents = list(self.env.agents)
        return self._observe(obs, infos), infos

    def step(self, actions: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
        obs, rewards, terminations, truncations, infos = self.env.step({a: int(x) for a, x in actions.items()})
        self.agents = list(self.env.agents)
        terminated = {**terminations, "__all__": all(terminations.values())}
        truncated = {**truncations, "__all__": all(truncations.values())}
        return self._observe(obs, infos), {a: float(r) for a, r in rewards.items()}, terminated, truncated, infos

    def close(self) -> None:
        self.env.close()


def own_module(agent_id: str, *_: Any, **__: Any) -> str:
    """Each agent learns its own module, named after it."""
    return agent_id


def shared_module(agent_id: str, *_: Any, **__: Any) -> str:
    """Every agent acts with (and trains) one module."""
    return SHARED_MODULE
