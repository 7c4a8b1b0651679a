"""Registration of ``FaaSTrainGym-v1`` with Gymnasium, and its one episode length."""

from __future__ import annotations

from typing import Any

import gymnasium
from gymnasium.envs.registration import EnvSpec, WrapperSpec

from faastrain_async.errors import ConfigError

ENV_ID = "FaaSTrainGym-v1"


class EpisodeLength(gymnasium.Wrapper[Any, Any, Any, Any], gymnasium.utils.RecordConstructorArgs):
    """Makes ``gymnasium.make``'s ``max_episode_steps`` and the env's ``episode_steps`` one setting.

    The env ends its episodes itself, after ``episode_steps``. ``gymnasium.make(ENV_ID,
    max_episode_steps=n)`` also wraps it in a ``TimeLimit`` of ``n`` steps, which the env
    cannot see; ``make`` applies this wrapper over that one, and it gives the env the same
    length. Its spec reports the env's length as ``max_episode_steps``.
    """

    def __init__(self, env: gymnasium.Env[Any, Any]) -> None:
        gymnasium.utils.RecordConstructorArgs.__init__(self)
        gymnasium.Wrapper.__init__(self, env)
        limit = env.spec.max_episode_steps if env.spec is not None else None  # the TimeLimit's, if any
        faas: Any = env.unwrapped
        if limit is not None and limit != faas.episode_steps:
            given = faas.spec.kwargs.get("episode_steps") if faas.spec is not None else None
            if given is not None:
                raise ConfigError(
                    f"episode_steps={given} and max_episode_steps={limit} disagree; they are one setting, give one of them"
                )
            faas.episode_steps = limit

    @property
    def spec(self) -> EnvSpec | None:
        spec = super().spec
        if spec is not None:
            spec.max_episode_steps = self.env.unwrapped.episode_steps  # type: ignore[attr-defined]
        return spec


def register_envs() -> None:
    """Register the environment ids (idempotent)."""
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(
            id=ENV_ID,
            entry_point="faastrain_async.env.gym_env:FaaSEnv",
            # No TimeLimit unless asked for: the env ends its episodes itself (EpisodeLength).
            max_episode_steps=None,
            additional_wrappers=(WrapperSpec("EpisodeLength", f"{__name__}:EpisodeLength", {}),),
        )
