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


class _AfterTimeLimit(tuple):  # type: ignore[type-arg]
    """The spec's additional wrappers (``EpisodeLength``), which ``gymnasium.make`` applies
    over its ``TimeLimit``, counted as none.

    ``make_vec``'s ``vector_entry_point`` mode refuses a spec whose additional wrappers are
    not empty, although they concern the scalar env only (the vector env takes the length
    from ``max_episode_steps`` itself). ``make`` slices the tuple, which still yields them.
    ``tests/test_presets.py`` and ``tests/test_vector_env.py`` check both paths.
    """

    def __len__(self) -> int:
        return 0


def register_envs() -> None:
    """Register the environment ids (idempotent)."""
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(
            id=ENV_ID,
            entry_point="faastrain_async.env.gym_env:FaaSEnv",
            vector_entry_point="faastrain_async.env.vector_env:FaaSVectorEnv",
            # No TimeLimit unless asked for: the env ends its episodes itself (EpisodeLength).
            max_episode_steps=None,
            additional_wrappers=_AfterTimeLimit((WrapperSpec("EpisodeLength", f"{__name__}:EpisodeLength", {}),)),
        )
