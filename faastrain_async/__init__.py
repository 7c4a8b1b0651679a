"""faastrain: a Gymnasium environment engine for RL autoscalers of serverless functions.

Importing the package registers ``FaaSTrainGym-v1``::

    import gymnasium, faastrain_async
    env = gymnasium.make("FaaSTrainGym-v1")          # the simulator
"""

from faastrain_async.env.async_env import AsyncFaaSEnv
from faastrain_async.env.gym_env import FaaSEnv
from faastrain_async.env.registration import ENV_ID, register_envs

register_envs()

__all__ = ["AsyncFaaSEnv", "FaaSEnv", "ENV_ID", "register_envs"]
__version__ = "0.1.0"
