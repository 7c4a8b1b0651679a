"""FaaSParallelEnv: the PettingZoo ``ParallelEnv`` over :class:`~faastrain_async.multi.core.AsyncMultiEnv`.

## Agents
One per function, named after it (``possible_agents``); all act at every step.

## Action and observation spaces
Each agent's are the single env's (``FaaSTrainGym-v1``): ``Discrete(2·max_delta + 1)`` (or
``Discrete(2)`` with ``action_mode="updown"``) and ``Box(6,)`` of its own function's window;
``observe_free_cores=True`` appends the node's free CPU cores in the window (``Box(7,)``).

## Rewards
Each agent's from its own function's window (the single env's ``reward`` preset), or with
``cooperative="sum"`` / ``"mean"`` the sum or mean of all of them for every agent.

## Episode end
A joint time limit: after ``episode_steps`` steps every agent is truncated at once (or
terminated, with ``episode_end="terminated"``), and so at a settle timeout with
``on_settle_timeout="truncate"``.

## Arguments
See :class:`~faastrain_async.multi.core.AsyncMultiEnv`.

## Version history
* v1: PettingZoo Parallel API over FaaSTrainGym-v1 agents; the simulated node's shared cores.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from faastrain_async.env.gym_env import CALL_MARGIN, SyncCaller
from faastrain_async.multi.core import AsyncMultiEnv

#: PettingZoo's name of the environment (``metadata["name"]``).
NAME = "faastrain_multi_v1"


class FaaSParallelEnv(ParallelEnv):  # type: ignore[misc]
    """Several functions on one cluster, one agent each (PettingZoo Parallel API)."""

    metadata: dict[str, Any] = {"name": NAME, "render_modes": [], "is_parallelizable": True}

    def __init__(self, *args: Any, render_mode: None = None, **kwargs: Any) -> None:
        if render_mode is not None:
            from faastrain_async.errors import ConfigError

            raise ConfigError(f"render_mode={render_mode!r} is not supported; this environment does not render")
        self.core = AsyncMultiEnv(*args, **kwargs)
        self.render_mode = None
        self.possible_agents: list[str] = list(self.core.functions)
        self.agents: list[str] = []
        s = self.core.settings
        self._call = SyncCaller(self.core.virtual, s.settle_timeout + s.interval + CALL_MARGIN, name="faastrain-multi-loop")
        self._last: dict[str, np.ndarray] = {}

    def observation_space(self, agent: str) -> spaces.Box:
        return self.core.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Discrete:
        return self.core.action_spaces[agent]

    def reset(self, seed: int | None = None, options: Mapping[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        obs, infos = self._call(self.core.areset(seed=seed, options=options))
        self.agents = list(self.core.agents)
        self._last = obs
        return obs, infos

    def step(self, actions: Mapping[str, Any]) -> tuple[Any, ...]:
        result = self._call(self.core.astep(actions))
        self.agents = list(self.core.agents)
        self._last = result[0]
        return result

    def state(self) -> np.ndarray:
        """The global state: every agent's last observation, in ``possible_agents`` order."""
        if not self._last:
            from faastrain_async.errors import ResetNeeded

            raise ResetNeeded("call reset() before state()")
        return np.concatenate([self._last[agent] for agent in self.possible_agents])

    def close(self) -> None:
        """Stop every function's backend (and the local cluster); re-raise what failed."""
        if not self._call.closed:
            self._call.close(None if self.core.closed else self.core.aclose())
