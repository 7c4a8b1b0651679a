"""Evaluation while training, for every training engine.

Every ``eval_every`` timesteps the model as it is then and a baseline policy run on the
held-out seeded episodes of ``eval_seeds`` with :func:`~faastrain_async.evaluation.evaluate`
(the baseline once: it does not change). Each result is a row of ``eval.csv`` in the run's
log folder and of the run's metadata; the engine saves the model as ``<save>-best`` when a
row is the best so far.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from faastrain_async.env.gym_env import FaaSEnv
from faastrain_async.evaluation import evaluate
from faastrain_async.evaluation.harness import scores_by_policy
from faastrain_async.logger import get_logger
from faastrain_async.outputs import writing
from faastrain_async.policies.base import Policy

if TYPE_CHECKING:
    from faastrain_async.training.trainer import TrainConfig

log = get_logger(__name__)


class PeriodicEvaluation:
    """The evaluations of one training run (see the module docstring)."""

    def __init__(self, config: TrainConfig, make_env: Callable[[], FaaSEnv], logs: Path) -> None:
        self.config = config
        self.make_env = make_env
        self.csv = logs / "eval.csv"
        with writing(self.csv):
            self.csv.unlink(missing_ok=True)  # a new run starts a new file, as the training log does
        self.rows: list[dict[str, float]] = []
        self.next_at = config.eval_every
        self._best = -math.inf
        self._baseline: float | None = None

    def due(self, timesteps: int) -> bool:
        """Whether an evaluation is due at ``timesteps``; if so, the next one is scheduled."""
        if not self.config.eval_every or timesteps < self.next_at:
            return False
        while self.next_at <= timesteps:
            self.next_at += self.config.eval_every
        return True

    def missing_final(self, timesteps: int) -> bool:
        """Whether the run evaluates but has no result for its final ``timesteps`` yet."""
        return bool(self.config.eval_every) and (not self.rows or self.rows[-1]["timesteps"] < timesteps)

    def __call__(self, timesteps: int, model: Policy) -> tuple[dict[str, float], bool]:
        """Evaluate ``model`` (the current model as a policy); the row, and whether it is the best so far."""
        c = self.config
        policies: list[str | Policy] = [model] if self._baseline is not None else [model, c.baseline]
        scores = scores_by_policy(evaluate(policies, self.make_env, seeds=list(c.eval_seeds), episodes=c.eval_episodes))
        if self._baseline is None:
            self._baseline = float(np.mean(scores[c.baseline]))
        row = {"timesteps": float(timesteps), "model_reward": float(np.mean(scores[model.name])), "baseline_reward": self._baseline}
        self.rows.append(row)
        log.info("evaluation", **row)
        with writing(self.csv), self.csv.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if f.tell() == 0:
                w.writeheader()
            w.writerow(row)
        best = row["model_reward"] > self._best
        self._best = max(self._best, row["model_reward"])
        return row, best
