"""A bench's leaderboard: per scenario, each policy's mean total reward with its 95% confidence
interval and its normalised score; the terminal table, ``leaderboard.csv``, ``results.json``
and the plots.

The normalised score of a policy in a scenario is ``(mean − mean_hpa) / (mean_best_static −
mean_hpa)`` over the mean total rewards per episode: 0 is HPA, 1 the best static count in
hindsight, above 1 better than any fixed count. Where HPA and the best static count tie (their
means within 1e-9 of each other, relatively), the score is undefined (NaN; ``null`` in JSON,
``n/a`` in the table), and such a scenario is left out of a policy's mean score.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faastrain_async.evaluation.stats import Stat, aggregate
from faastrain_async.outputs import write_text, writing

if TYPE_CHECKING:
    from faastrain_async.evaluation.bench import BenchResult, ScenarioResult

BEST = "best-static"


def score(mean: float, hpa: float, best: float) -> float:
    """The normalised score of ``mean`` (see the module docstring)."""
    span = best - hpa
    if not math.isfinite(span) or abs(span) <= 1e-9 * max(1.0, abs(hpa), abs(best)):
        return math.nan
    return (mean - hpa) / span


def rows(scenario: ScenarioResult, policies: list[str]) -> list[tuple[str, Stat, float]]:
    """``(label, total reward Stat, score)`` for each ranked policy, then the best static count."""
    stats = {p: aggregate([r.metrics["total_reward"] for r in scenario.episodes[p]]) for p in [*policies, scenario.best_static]}
    hpa, best = stats[policies[0]].mean, stats[scenario.best_static].mean
    out = [(p, stats[p], score(stats[p].mean, hpa, best)) for p in policies]
    out.append((f"{BEST} ({scenario.best_static})", stats[scenario.best_static], 1.0 if math.isfinite(score(best, hpa, best)) else math.nan))
    return out


def paired(scenario: ScenarioResult, policy: str, other: str) -> Stat:
    """The total reward of ``policy`` minus that of ``other``, episode by episode (the same
    worlds): its mean and 95% CI, tighter than the two intervals apart when the workloads vary."""
    a, b = scenario.episodes[policy], scenario.episodes[other]
    if [r.world_seed for r in a] != [r.world_seed for r in b]:
        raise ValueError(f"{policy} and {other} did not run the same episodes")
    return aggregate([x.metrics["total_reward"] - y.metrics["total_reward"] for x, y in zip(a, b)])


def mean_scores(result: BenchResult) -> dict[str, tuple[float, int]]:
    """Each policy's mean normalised score over the scenarios where it is defined, and how many."""
    per: dict[str, list[float]] = {}
    for sc in result.scenarios:
        for label, _, s in rows(sc, result.policies):
            per.setdefault(label.split(" (")[0], []).append(s)
    out: dict[str, tuple[float, int]] = {}
    for p, values in per.items():
        finite = [x for x in values if math.isfinite(x)]
        out[p] = (math.fsum(finite) / len(finite) if finite else math.nan, len(finite))
    return out


def text(result: BenchResult) -> str:
    """The leaderboard as an aligned table, a block per scenario, then the mean scores."""
    lines = [f"{result.suite.name}: total reward per episode, mean ± 95% CI over {len(result.suite.worlds)} episodes; "
             f"score: 0 = {result.policies[0]}, 1 = best static count in hindsight"]  # fmt: skip
    table = [("scenario", "policy", "reward", "score")]
    for sc in result.scenarios:
        for i, (label, stat, s) in enumerate(rows(sc, result.policies)):
            table.append((sc.scenario.name if i == 0 else "", label, stat.text(2), "n/a" if math.isnan(s) else f"{s:.2f}"))
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    for k, r in enumerate(table):
        lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    lines.append("mean normalised score over the scenarios:")
    for p, (m, n) in sorted(mean_scores(result).items(), key=lambda kv: -kv[1][0] if math.isfinite(kv[1][0]) else math.inf):
        lines.append(f"  {p:<{widths[1]}}  {'n/a' if math.isnan(m) else f'{m:6.2f}'}  ({n} scenarios)")
    return "\n".join(lines)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None  # JSON has no NaN


def to_json(result: BenchResult) -> dict[str, Any]:
    board = []
    for sc in result.scenarios:
        for label, stat, s in rows(sc, result.policies):
            board.append({"scenario": sc.scenario.name, "policy": label.split(" (")[0], "chosen": sc.best_static if label.startswith(BEST) else None,
                          "mean": _finite(stat.mean), "ci95": _finite(stat.ci95), "n": stat.n, "score": _finite(s)})  # fmt: skip
    return {
        "config": result.config,
        "leaderboard": board,
        "mean_scores": {p: {"score": _finite(m), "scenarios": n} for p, (m, n) in mean_scores(result).items()},
        "best_static": {sc.scenario.name: sc.best_static for sc in result.scenarios},
        "seconds": {sc.scenario.name: sc.seconds for sc in result.scenarios},
    }


def write(result: BenchResult, folder: Path, *, plots: bool = True) -> list[Path]:
    """``leaderboard.txt``, ``leaderboard.csv``, ``results.json`` and (``plots``) ``scores.png``
    and ``rewards.png`` in ``folder``; each file replaced whole."""
    data = to_json(result)
    paths = [folder / "leaderboard.txt", folder / "leaderboard.csv", folder / "results.json"]
    write_text(paths[0], text(result) + "\n")
    partial = paths[1].with_name(".leaderboard.csv.partial")
    with writing(paths[1]):
        with partial.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["scenario", "policy", "chosen", "mean", "ci95", "n", "score"])
            w.writeheader()
            w.writerows(data["leaderboard"])
        partial.replace(paths[1])
    write_text(paths[2], json.dumps(data, indent=2) + "\n")
    if plots and result.scenarios:
        from faastrain_async.evaluation.plots import bench_rewards, bench_scores

        paths += [bench_scores(result, folder / "scores.png"), bench_rewards(result, folder / "rewards.png")]
    return paths
