"""The vector simulator's env-steps per second against CartPole-v1's native vector env, in one run.

Both through ``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")``, stepped with
uniformly random actions (drawn before timing), at N = 1, 64, 1,024 and 8,192 environments.
Targets: at N = 1,024 at least 0.1 of CartPole's rate; at most 2 KiB of memory per environment
at N = 8,192 (the peak of what numpy allocates while the batch is built and stepped, over N).
Then a PPO training run (Stable-Baselines3, the ``rl`` extra) on the vector simulator against
the same run on copies of the scalar env in a ``DummyVecEnv`` (the way training ran before):

    python benchmarks/vector_throughput.py            # all of it
    python benchmarks/vector_throughput.py --no-ppo   # the vector envs only
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings
from typing import Any

import gymnasium
import numpy as np

import faastrain_async

SIZES = (1, 64, 1024, 8192)
RATIO_TARGET, MEMORY_TARGET = 0.1, 2048


def env_steps_per_second(env_id: str, n: int, steps: int, **kwargs: Any) -> float:
    env = gymnasium.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, env.single_action_space.n, (steps, n))
    started = time.perf_counter()
    for a in actions:
        env.step(a)
    elapsed = time.perf_counter() - started
    env.close()
    return steps * n / elapsed


def bytes_per_env(n: int, steps: int = 20) -> float:
    """Peak numpy/Python allocation while building and stepping a batch of ``n``, per env."""
    tracemalloc.start()
    env = gymnasium.make_vec(faastrain_async.ENV_ID, num_envs=n, vectorization_mode="vector_entry_point")
    env.reset(seed=0)
    for a in np.random.default_rng(0).integers(0, env.single_action_space.n, (steps, n)):
        env.step(a)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    env.close()
    return peak / n


def ppo_steps_per_second(vector: bool, n_envs: int, timesteps: int) -> float:
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from faastrain_async.env.gym_env import FaaSEnv
    from faastrain_async.env.vector_env import FaaSVectorEnv
    from faastrain_async.training.features import FeatureWrapper
    from faastrain_async.training.vector import SB3VectorEnv

    probe = FaaSEnv()
    if vector:
        venv: Any = SB3VectorEnv(FaaSVectorEnv.like(probe.env, n_envs, autoreset_mode="SameStep"))
    else:
        venv = DummyVecEnv([lambda: FeatureWrapper(FaaSEnv(), probe.env.settings) for _ in range(n_envs)])
    venv.seed(0)
    model = PPO("MlpPolicy", venv, n_steps=256, batch_size=256, n_epochs=4, seed=0, device="cpu", verbose=0)
    started = time.perf_counter()
    model.learn(total_timesteps=timesteps)
    elapsed = time.perf_counter() - started
    venv.close()
    probe.close()
    return model.num_timesteps / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="vector steps per measurement (default 200)")
    parser.add_argument("--repeats", type=int, default=3, help="best of R interleaved runs (default 3)")
    parser.add_argument("--no-ppo", action="store_true", help="skip the PPO comparison")
    parser.add_argument("--ppo-envs", type=int, default=64, help="environments of the PPO runs (default 64)")
    parser.add_argument("--ppo-timesteps", type=int, default=65_536, help="timesteps of each PPO run (default 65,536)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    print(f"compiled build: {faastrain_async.compiled()}; best of {args.repeats} interleaved runs of {args.steps} vector steps")
    print(f"{'N':>6} {'FaaSTrainGym-v1 env-steps/s':>28} {'CartPole-v1 env-steps/s':>24} {'ratio':>7}")
    ratios = {}
    for n in SIZES:
        steps = max(5, args.steps if n <= 1024 else args.steps // 4)
        ours = cart = 0.0
        for _ in range(args.repeats):
            ours = max(ours, env_steps_per_second(faastrain_async.ENV_ID, n, steps))
            cart = max(cart, env_steps_per_second("CartPole-v1", n, steps))
        ratios[n] = ours / cart
        print(f"{n:>6} {ours:>28,.0f} {cart:>24,.0f} {ratios[n]:>7.3f}")
    per_env = bytes_per_env(8192)
    ok = "met" if ratios[1024] >= RATIO_TARGET else "NOT met"
    print(f"target at N=1024, ratio >= {RATIO_TARGET}: {ok} ({ratios[1024]:.3f})")
    ok = "met" if per_env <= MEMORY_TARGET else "NOT met"
    print(f"memory at N=8192: {per_env:,.0f} bytes per environment (peak while stepping); target <= {MEMORY_TARGET}: {ok}")
    if args.no_ppo:
        return
    try:
        import stable_baselines3  # noqa: F401
    except ImportError:
        print("PPO comparison skipped: install the rl extra (pip install -e '.[rl]')")
        return
    ppo_steps_per_second(True, 4, 1024)  # warm-up: PyTorch's first calls load and compile
    vec = scalar = 0.0
    for _ in range(args.repeats):
        vec = max(vec, ppo_steps_per_second(True, args.ppo_envs, args.ppo_timesteps))
        scalar = max(scalar, ppo_steps_per_second(False, args.ppo_envs, args.ppo_timesteps))
    print(f"PPO, {args.ppo_envs} envs, {args.ppo_timesteps:,} timesteps: vector simulator {vec:,.0f} steps/s, "
          f"scalar envs in a DummyVecEnv {scalar:,.0f} steps/s, ratio {vec / scalar:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
