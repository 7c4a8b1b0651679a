"""faastrain: a Gymnasium environment engine for RL autoscalers of serverless functions.

Importing the package registers ``FaaSTrainGym-v1``::

    import gymnasium, faastrain_async
    env = gymnasium.make("FaaSTrainGym-v1")          # the simulator
"""

import importlib.machinery

from faastrain_async.env.async_env import AsyncFaaSEnv
from faastrain_async.env.gym_env import FaaSEnv
from faastrain_async.env.registration import ENV_ID, register_envs

register_envs()


def compiled() -> bool:
    """True when the simulator's hot path runs compiled (``FAASTRAIN_COMPILE=1 pip install .``)."""
    from faastrain_async import clock
    from faastrain_async.backends.sim import model
    from faastrain_async.engine import state

    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    return all(str(module.__file__).endswith(suffixes) for module in (clock, state, model))


__all__ = ["AsyncFaaSEnv", "FaaSEnv", "ENV_ID", "compiled", "register_envs"]
__version__ = "0.1.0"
