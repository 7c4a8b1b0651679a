"""Episodes of a policy on the vector simulator: every episode of a plan at once.

The plan's episodes are the environments of one :class:`~faastrain_async.env.vector_env.FaaSVectorEnv`,
started from the plan's world seeds together and stepped in lockstep; each environment gets its
own copy of the policy (policies keep per-episode state). The rows are the scalar rollout's
:class:`~faastrain_async.rollout.StepRow`, so the metrics, tables and plots do not change.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from faastrain_async.env.spaces import OBSERVATION_FIELDS
from faastrain_async.env.vector_env import FaaSVectorEnv
from faastrain_async.policies.base import Policy
from faastrain_async.rollout import INFO_KEYS, StepRow


def _row_info(info: dict[str, Any], i: int) -> dict[str, Any]:
    """Environment ``i``'s info as the scalar env's (plain Python values; None for a NaN p95)."""
    out = {k: info[k][i].item() for k in INFO_KEYS if k in info and k != "window"}
    out["window"] = (out["t_settled"], out["t_settled"] + info["interval"])
    if out.get("p95_exec_s") is not None and math.isnan(out["p95_exec_s"]):
        out["p95_exec_s"] = None
    return out


def vector_episodes(
    make_vector_env: Callable[[int], FaaSVectorEnv], policy: Policy, plan: Sequence[tuple[int, int, int]]
) -> list[list[StepRow]]:
    """The rows of each episode of ``plan`` (``(seed, episode, world_seed)`` triples), in order."""
    env = make_vector_env(len(plan))
    try:
        steps = env.settings.episode_steps
        copies = [copy.deepcopy(policy) for _ in plan]
        for p, (_, _, world) in zip(copies, plan):
            p.reset(world)
        obs, info = env.reset(seed=[world for _, _, world in plan])
        info["interval"] = env.settings.interval
        rows: list[list[StepRow]] = [[] for _ in plan]
        last_reward = np.zeros(len(plan))
        last_actions = np.zeros(len(plan), dtype=np.int64)
        terminated = truncated = np.zeros(len(plan), dtype=bool)
        for step in range(steps + 1):
            infos = [_row_info(info, i) for i in range(len(plan))]
            actions = None
            if step < steps:
                actions = np.array([p.act(obs[i], infos[i]) for i, p in enumerate(copies)], dtype=np.int64)
            for i, (_, e, _) in enumerate(plan):
                reward = None if step == 0 else float(last_reward[i])
                action = None if step == 0 else int(last_actions[i])
                values = {name: float(v) for name, v in zip(OBSERVATION_FIELDS, obs[i])}
                rows[i].append(StepRow(e, step, action, reward, bool(terminated[i]), bool(truncated[i]), values, infos[i]))
            if actions is None:
                break
            obs, last_reward, terminated, truncated, info = env.step(actions)
            info["interval"] = env.settings.interval
            last_actions = actions
        return rows
    finally:
        env.close()
