"""The vector simulator as a Stable-Baselines3 ``VecEnv`` (imported only with the ``rl`` extra).

:class:`SB3VectorEnv` steps a :class:`~faastrain_async.env.vector_env.FaaSVectorEnv` in its
``SAME_STEP`` autoreset mode, which is SB3's: the step that ends an episode returns the next
episode's first observation, with the last one in ``info["terminal_observation"]``. The
observations are the :mod:`~faastrain_async.training.features` encoding (the one ``ModelPolicy``
uses), and each ended episode's return and length go to ``info["episode"]`` as SB3's
``Monitor`` does, so training logs read the same as with the scalar envs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from faastrain_async.env.vector_env import FaaSVectorEnv
from faastrain_async.training.features import BatchFeatures, FeatureEncoder


class SB3VectorEnv(VecEnv):  # type: ignore[misc]
    """``env.num_envs`` environments for Stable-Baselines3, with feature observations."""

    def __init__(self, env: FaaSVectorEnv, history: int = 2) -> None:
        if env.metadata["autoreset_mode"].value != "SameStep":
            raise ValueError("SB3VectorEnv needs a FaaSVectorEnv made with autoreset_mode='SameStep'")
        self.env = env
        self.features = BatchFeatures(env.settings, env.num_envs, history)
        super().__init__(env.num_envs, FeatureEncoder(env.settings, history).space(), env.single_action_space)
        self._seed: int | None = None
        self._actions: np.ndarray | None = None
        self._returns = np.zeros(env.num_envs)
        self._lengths = np.zeros(env.num_envs, dtype=np.int64)
        self._started = time.time()

    def seed(self, seed: int | None = None) -> Sequence[None | int]:
        """Seed the next reset: environment ``i`` starts from world seed ``seed + i``."""
        self._seed = seed
        return [None if seed is None else seed + i for i in range(self.num_envs)]

    def reset(self) -> np.ndarray:
        obs, info = self.env.reset(seed=self._seed)
        self._seed = None
        self._returns[:] = 0.0
        self._lengths[:] = 0
        return self.features.start(slice(None), obs, info["exec_time_missing"])

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        assert self._actions is not None, "step_async first"
        obs, reward, terminated, truncated, info = self.env.step(self._actions)
        done = terminated | truncated
        self._returns += reward
        self._lengths += 1
        last_obs = np.where(done[:, None], info["final_obs"], obs)
        last_missing = np.where(done, info["final_info"]["exec_time_missing"], info["exec_time_missing"])
        features = self.features.add(last_obs, last_missing)
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        rows = np.nonzero(done)[0]
        if rows.size:
            elapsed = round(time.time() - self._started, 6)
            new = self.features.start(rows, obs[rows], info["exec_time_missing"][rows])
            for k, i in enumerate(rows):
                infos[i] = {
                    "terminal_observation": features[i].copy(),
                    "TimeLimit.truncated": bool(truncated[i] and not terminated[i]),
                    "episode": {"r": float(self._returns[i]), "l": int(self._lengths[i]), "t": elapsed},
                }
                features[i] = new[k]
            self._returns[rows] = 0.0
            self._lengths[rows] = 0
        return features, reward.astype(np.float32), done, infos

    def close(self) -> None:
        self.env.close()

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self.env, attr_name)] * len(self._indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self.env, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any) -> list[Any]:
        return [getattr(self.env, method_name)(*method_args, **method_kwargs)] * len(self._indices(indices))

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * len(self._indices(indices))

    def _indices(self, indices: Any) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        return [indices] if isinstance(indices, int) else list(indices)
