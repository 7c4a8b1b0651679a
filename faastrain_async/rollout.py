"""Running a policy in an environment, one row per step, and summing the rows up."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np

from faastrain_async.env.gym_env import FaaSEnv
from faastrain_async.env.spaces import OBSERVATION_FIELDS
from faastrain_async.outputs import output_folder, writing
from faastrain_async.policies.base import Policy

#: info keys written to a step row (the rest stay in memory).
INFO_KEYS: tuple[str, ...] = (
    "target", "requested", "clamped", "applied", "ready", "settled", "settle_seconds",
    "t_action", "t_settled", "window", "metrics_delay_seconds", "successes", "exec_time_missing", "p95_exec_s", "metrics_stale",
    "load_intended_rps", "load_achieved_rps",
)


class StepRow(NamedTuple):
    """One step of a rollout: what was seen, done and got."""

    episode: int
    step: int
    action: int | None  # None for the observation a reset returned
    reward: float | None
    terminated: bool
    truncated: bool
    obs: dict[str, float]
    info: dict[str, Any]

    def flat(self) -> dict[str, Any]:
        """A single-level mapping (a CSV row)."""
        row: dict[str, Any] = {
            "episode": self.episode, "step": self.step, "action": self.action, "reward": self.reward,
            "terminated": self.terminated, "truncated": self.truncated,
        }  # fmt: skip
        row.update(self.obs)
        row.update(self.info)
        return row


def _row(
    episode: int, obs: np.ndarray, info: dict[str, Any], action: int | None, reward: float | None,
    terminated: bool = False, truncated: bool = False,
) -> StepRow:
    return StepRow(
        episode=episode,
        step=int(info["step"]),
        action=action,
        reward=reward,
        terminated=terminated,
        truncated=truncated,
        obs={name: float(v) for name, v in zip(OBSERVATION_FIELDS, obs)},
        info={k: info[k] for k in INFO_KEYS if k in info},
    )


def rollout(env: FaaSEnv, policy: Policy, *, steps: int, seed: int | None) -> Iterator[StepRow]:
    """Run ``policy`` for ``steps`` steps, resetting when an episode ends and a step follows.

    Yields the row of each reset first, then one per step. The first reset takes ``seed``;
    later episodes continue the same seeded world. No reset follows the last step: on a live
    backend a reset costs a scale-back and a window.
    """
    policy.reset(seed)
    episode = 0
    ended = True
    for _ in range(steps):
        if ended:
            episode += 1
            obs, info = env.reset(seed=seed if episode == 1 else None)
            yield _row(episode, obs, info, None, None)
        action = int(policy.act(obs, info))
        obs, reward, terminated, truncated, info = env.step(action)
        yield _row(episode, obs, info, action, float(reward), bool(terminated), bool(truncated))
        ended = bool(terminated or truncated)


def summarize(rows: Sequence[StepRow], interval: float) -> dict[str, Any]:
    """Totals and means over the rows that are steps (not resets)."""
    steps = [r for r in rows if r.action is not None]
    if not steps:
        return {"steps": 0}

    def mean(values: Sequence[float]) -> float:
        return float(np.mean(values)) if values else math.nan

    rewards = [r.reward for r in steps if r.reward is not None]
    replicas = [r.obs["replicas"] for r in steps]
    executed = [r.obs["exec_time_s"] for r in steps if not r.info.get("exec_time_missing")]
    return {
        "steps": len(steps),
        "episodes": len({r.episode for r in steps}),
        "total_reward": float(np.sum(rewards)),
        "mean_reward": mean(rewards),
        "mean_throughput_pct": mean([r.obs["throughput_pct"] for r in steps]),
        "mean_exec_time_s": mean(executed),
        "mean_replicas": mean(replicas),
        "replica_seconds": float(np.sum(replicas) * interval),
        "mean_settle_seconds": mean([r.info["settle_seconds"] for r in steps]),
        "max_settle_seconds": float(max(r.info["settle_seconds"] for r in steps)),
        "settle_timeouts": sum(1 for r in steps if not r.info["settled"]),
        "clamped_actions": sum(1 for r in steps if r.info["clamped"]),
        "requests": float(np.sum([r.obs["requests"] for r in steps])),
    }


class StepWriter:
    """Writes rows to ``steps.jsonl`` or ``steps.csv`` in a folder, as they come.

    Each row reaches the operating system before :meth:`write` returns, so a run that is
    killed keeps every step it finished. A failed write raises OutputError naming the file.
    """

    def __init__(self, folder: Path, fmt: str) -> None:
        self.path = output_folder(folder) / f"steps.{fmt}"
        self._fmt = fmt
        with writing(self.path):
            self._file: IO[str] = self.path.open("w", newline="")
        self._csv: csv.DictWriter[str] | None = None

    def write(self, row: StepRow) -> None:
        with writing(self.path):
            if self._fmt == "jsonl":
                self._file.write(json.dumps(row._asdict()) + "\n")
            else:
                flat = row.flat()
                if self._csv is None:
                    self._csv = csv.DictWriter(self._file, fieldnames=list(flat))
                    self._csv.writeheader()
                self._csv.writerow(flat)
            self._file.flush()

    def close(self) -> None:
        with writing(self.path):
            self._file.close()

    def __enter__(self) -> StepWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
