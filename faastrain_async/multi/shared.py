"""One policy for every agent: the multi-agent env as a Stable-Baselines3 ``VecEnv``.

Parameter sharing: each (copy of the environment, agent) pair is one slot of the vector env,
so one SB3 model acts for every agent and learns from all of them. Each slot's observation is
its agent's :class:`~faastrain_async.training.features.FeatureEncoder` encoding of the six
single-env entries, followed (with ``observe_free_cores=True``) by the node's free cores as
a fraction of its cores, newest first for each of the last ``history`` steps. The episodes of
one copy are joint, so all its slots end together; the copy is then reset (its next world
seed drawn from the copy's own generator) and the final observation goes into
``info["terminal_observation"]``, as SB3 expects. Needs the ``rl`` extra.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from faastrain_async.errors import ConfigError
from faastrain_async.multi.parallel import FaaSParallelEnv
from faastrain_async.multi.features import AgentFeatures

try:
    from stable_baselines3.common.vec_env import VecEnv
except ImportError as e:  # pragma: no cover - depends on the installation
    raise ImportError(f"faastrain_async.multi.shared needs the rl extra ({e}); pip install -e \".[rl,multi]\"") from e


class SharedPolicyVecEnv(VecEnv):  # type: ignore[misc]
    """``copies`` multi-agent envs as one SB3 vector env of ``copies × agents`` slots."""

    def __init__(self, make_env: Callable[[], FaaSParallelEnv], copies: int = 1, history: int = 2) -> None:
        if not isinstance(copies, int) or copies < 1:
            raise ConfigError(f"copies={copies!r} must be an integer >= 1")
        self.envs = [make_env() for _ in range(copies)]
        self.features = [AgentFeatures(env, history) for env in self.envs]
        self.agents = self.features[0].agents
        first = self.envs[0]
        space = first.action_space(self.agents[0])
        if any(env.action_space(a) != space for env in self.envs for a in self.agents):
            raise ConfigError("a shared policy needs every agent to have the same action space")
        size = self.features[0].size
        observation_space = spaces.Box(low=-np.inf, high=np.inf, shape=(size,), dtype=np.float32)
        super().__init__(copies * len(self.agents), observation_space, space)
        self._seeds: list[int | None] = [None] * copies
        self._rngs = [np.random.default_rng(i) for i in range(copies)]
        self._actions: np.ndarray | None = None

    def _reset_copy(self, i: int) -> list[np.ndarray]:
        seed = self._seeds[i]
        if seed is None:
            seed = int(self._rngs[i].integers(2**31))
        self._seeds[i] = None
        obs, infos = self.envs[i].reset(seed=seed)
        self.features[i].reset()
        return [self.features[i](a, obs[a], infos[a]) for a in self.agents]

    def seed(self, seed: int | None = None) -> Sequence[None | int]:
        """Copy ``i``'s next reset uses world seed ``seed + i``; later ones follow from it."""
        base = 0 if seed is None else seed
        self._seeds = [base + i for i in range(len(self.envs))]
        self._rngs = [np.random.default_rng([base, i]) for i in range(len(self.envs))]
        return list(self._seeds)

    def reset(self) -> np.ndarray:
        return np.stack([f for i in range(len(self.envs)) for f in self._reset_copy(i)])

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        assert self._actions is not None, "step_async first"
        n = len(self.agents)
        observations: list[np.ndarray] = []
        rewards, dones, infos = np.zeros(self.num_envs, dtype=np.float32), np.zeros(self.num_envs, dtype=bool), []
        for i, env in enumerate(self.envs):
            chosen = {a: int(self._actions[i * n + j]) for j, a in enumerate(self.agents)}
            obs, reward, terminated, truncated, info = env.step(chosen)
            slots = [self.features[i](a, obs[a], info[a]) for a in self.agents]
            done = not env.agents
            for j, a in enumerate(self.agents):
                rewards[i * n + j] = reward[a]
                dones[i * n + j] = done
                infos.append(dict(info[a]))
            if done:
                for j, a in enumerate(self.agents):
                    infos[i * n + j]["terminal_observation"] = slots[j]
                    infos[i * n + j]["TimeLimit.truncated"] = truncated[a] and not terminated[a]
                slots = self._reset_copy(i)
            observations.extend(slots)
        return np.stack(observations), rewards, dones, infos

    def close(self) -> None:
        for env in self.envs:
            env.close()

    # The rest of SB3's VecEnv interface: attributes of the underlying environments.
    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self.envs[i // len(self.agents)], attr_name) for i in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        for i in self._indices(indices):
            setattr(self.envs[i // len(self.agents)], attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list[Any]:
        return [getattr(self.envs[i // len(self.agents)], method_name)(*args, **kwargs) for i in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False for _ in self._indices(indices)]

    def _indices(self, indices: Any) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        return [indices] if isinstance(indices, int) else list(indices)


def shared_policy_actions(model: Any, features: AgentFeatures, obs: dict[str, np.ndarray], infos: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Every agent's action from one shared model (deterministic), for evaluation."""
    batch = np.stack([features(a, obs[a], infos[a]) for a in features.agents])
    actions, _ = model.predict(batch, deterministic=True)
    return {a: int(x) for a, x in zip(features.agents, actions)}
