"""Registration of ``FaaSTrainGym-v1`` with Gymnasium."""

from __future__ import annotations

import gymnasium

ENV_ID = "FaaSTrainGym-v1"
#: FaaSTrainGym's episode length; a time limit, so Gymnasium reports it as ``truncated``.
MAX_EPISODE_STEPS = 10


def register_envs() -> None:
    """Register the environment ids (idempotent)."""
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(
            id=ENV_ID,
            entry_point="faastrain_async.env.gym_env:FaaSEnv",
            vector_entry_point="faastrain_async.env.vector_env:FaaSVectorEnv",
            max_episode_steps=MAX_EPISODE_STEPS,
        )
