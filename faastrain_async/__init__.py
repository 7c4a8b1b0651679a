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
    """True when the simulator's hot path runs compiled (``FAASTRAIN_COMPILE=1 pip install .``).

    The build compiles all of its modules (setup.py) or none, so the model stands for them.
    """
    from faastrain_async.backends.sim import model

    return str(model.__file__).endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


__all__ = ["AsyncFaaSEnv", "FaaSEnv", "ENV_ID", "compiled", "register_envs"]
__version__ = "0.1.0"
