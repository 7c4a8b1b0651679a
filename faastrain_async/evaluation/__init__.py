"""Evaluating policies side by side on the same seeded workloads.

``harness`` runs the episodes, ``stats`` aggregates them with confidence intervals,
``report`` writes the table, CSV and JSON, and ``plots`` the PNG figures (matplotlib, imported
only when plotting). ``bench`` runs named suites of scenarios over the harness, and
``leaderboard`` ranks their results (``faastrain bench``).
"""

from faastrain_async.evaluation.harness import EpisodeResult, Evaluation, evaluate, episode_seeds, split_policies
from faastrain_async.evaluation.stats import aggregate, t_critical

__all__ = ["EpisodeResult", "Evaluation", "evaluate", "episode_seeds", "split_policies", "aggregate", "t_critical"]
