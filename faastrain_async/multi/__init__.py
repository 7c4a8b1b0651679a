"""Many agents on one cluster: a PettingZoo environment of several functions, one agent each.

Needs the ``multi`` extra (``pip install -e ".[multi]"``: PettingZoo)::

    from faastrain_async.multi import parallel_env

    env = parallel_env(functions=["fn-a", "fn-b"], profiles={"fn-a": "sine:period=600,low=2,high=40",
                                                           "fn-b": "constant:rate=10"}, sim={"cores": 2})
    observations, infos = env.reset(seed=0)
    observations, rewards, terminations, truncations, infos = env.step({a: 5 for a in env.agents})

By name: ``faastrain_async.multi.make("FaaSTrainMulti-v1", ...)``, or, as PettingZoo's own
environments are found, the module: ``importlib.import_module("faastrain_async.multi").parallel_env``.
See docs/multi-agent.md.
"""

from __future__ import annotations

from typing import Any

from faastrain_async.errors import ConfigError

try:
    import pettingzoo  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the installation
    raise ImportError(f"faastrain_async.multi needs PettingZoo ({e}); pip install -e \".[multi]\"") from e

from faastrain_async.multi.core import AsyncMultiEnv
from faastrain_async.multi.parallel import NAME, FaaSParallelEnv

#: The environment's id for :func:`make` (and for registries such as RLlib's).
ENV_ID = "FaaSTrainMulti-v1"


def parallel_env(**kwargs: Any) -> FaaSParallelEnv:
    """The Parallel API environment (PettingZoo's ``parallel_env`` factory); keywords as for
    :class:`~faastrain_async.multi.core.AsyncMultiEnv`."""
    return FaaSParallelEnv(**kwargs)


def env(**kwargs: Any) -> Any:
    """The same environment under PettingZoo's AEC API (agents act in turn; the joint step
    runs once all have acted)."""
    from pettingzoo.utils.conversions import parallel_to_aec

    return parallel_to_aec(parallel_env(**kwargs))


def make(env_id: str, **kwargs: Any) -> FaaSParallelEnv:
    """The Parallel API environment called ``env_id``."""
    if env_id != ENV_ID:
        raise ConfigError(f"unknown multi-agent environment {env_id!r}; known: {ENV_ID}")
    return parallel_env(**kwargs)


__all__ = ["AsyncMultiEnv", "ENV_ID", "FaaSParallelEnv", "NAME", "env", "make", "parallel_env"]
