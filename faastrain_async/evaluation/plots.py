"""PNG figures of an evaluation (matplotlib, imported only here, when plotting).

Uses matplotlib's object API with the Agg canvas, never ``pyplot``, so plotting neither needs
a display nor changes global matplotlib state in the caller's process.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from faastrain_async.errors import ConfigError
from faastrain_async.evaluation.harness import METRICS, Evaluation
from faastrain_async.evaluation.report import COLUMNS, aggregates, label

if TYPE_CHECKING:
    from faastrain_async.evaluation.bench import BenchResult


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def timeline(
    evaluation: Evaluation,
    path: Path,
    *,
    seed: int | None = None,
    episode: int = 0,
    policies: Sequence[str] | None = None,
    max_steps: int | None = None,
) -> Path:
    """Load and each policy's replicas over one episode (the first seed's by default), one time axis.

    ``policies`` picks some of the evaluated policies, and ``max_steps`` shows only the
    episode's beginning: a long episode with many policies is unreadable otherwise.
    """
    seed = evaluation.results[0].seed if seed is None else seed
    unknown = sorted(set(policies or ()) - set(evaluation.policies))
    if unknown:
        raise ConfigError(f"timeline: policies {unknown} were not evaluated; evaluated: {', '.join(evaluation.policies)}")
    fig = _figure(10, 6)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1.6]})
    load_drawn = False
    for policy in policies or evaluation.policies:
        match = [r for r in evaluation.of(policy) if r.seed == seed and r.episode == episode]
        if not match:
            continue
        rows = match[0].rows[: None if max_steps is None else max_steps + 1]
        minutes = [float(r.info["t_settled"]) / 60.0 for r in rows]
        if not load_drawn:
            # Every policy faces the same intended load in this episode; draw it once.
            top.plot(minutes, [r.info["load_intended_rps"] for r in rows], color="black", label="intended load")
            top.plot(minutes, [r.obs["requests"] / evaluation.interval for r in rows], color="grey", ls="--", label=f"completed ({policy})")
            load_drawn = True
        bottom.step(minutes, [r.obs["replicas"] for r in rows], where="post", label=label(evaluation, policy))
    top.set_ylabel("requests / s")
    top.legend(loc="upper right", fontsize=8)
    top.set_title(f"Replicas against load, seed {seed} episode {episode}")
    bottom.set_ylabel("ready replicas")
    bottom.set_xlabel("time since reset (min)")
    bottom.legend(loc="upper left", fontsize=8, ncol=2)
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return path


def bars(evaluation: Evaluation, path: Path) -> Path:
    """One bar chart per metric: each policy's mean with its 95% confidence interval."""
    agg = aggregates(evaluation)
    fig = _figure(14, 6)
    axes = fig.subplots(2, 4).ravel()
    names = [label(evaluation, p) for p in evaluation.policies]
    colors = [f"C{i % 10}" for i in range(len(names))]
    for ax, metric in zip(axes, METRICS):
        stats = [agg[p][metric] for p in evaluation.policies]
        errs = [0.0 if s.ci95 != s.ci95 else s.ci95 for s in stats]  # NaN (one episode): no bar
        ax.bar(range(len(names)), [s.mean for s in stats], yerr=errs, color=colors, capsize=3)
        ax.set_title(COLUMNS[metric][0])
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Mean per episode, 95% confidence intervals")
    fig.tight_layout()
    fig.savefig(path)
    return path


def write_plots(evaluation: Evaluation, folder: Path) -> list[Path]:
    """timeline.png and aggregates.png in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return [timeline(evaluation, folder / "timeline.png"), bars(evaluation, folder / "aggregates.png")]


def bench_scores(result: BenchResult, path: Path) -> Path:
    """A bench's normalised scores: a group of bars per scenario, one bar per policy."""
    from faastrain_async.evaluation.leaderboard import rows

    fig = _figure(max(8.0, 1.3 * len(result.scenarios) + 3), 5)
    ax = fig.subplots()
    names = [sc.scenario.name for sc in result.scenarios]
    labels = [*result.policies, "best-static"]
    width = 0.8 / len(labels)
    for k, policy in enumerate(labels):
        values = [rows(sc, result.policies)[k][2] for sc in result.scenarios]
        ax.bar([i + (k - (len(labels) - 1) / 2) * width for i in range(len(names))], values, width, label=policy, color=f"C{k % 10}")
    ax.axhline(0.0, color="black", lw=0.8)
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("normalised score (0 = hpa, 1 = best static)")
    ax.set_title(f"{result.suite.name}: normalised score per scenario")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return path


def bench_rewards(result: BenchResult, path: Path) -> Path:
    """A bench's mean total reward per episode with 95% intervals, one panel per scenario."""
    from faastrain_async.evaluation.leaderboard import rows

    n = len(result.scenarios)
    cols = min(4, n)
    fig = _figure(3.6 * cols, 3.4 * ((n + cols - 1) // cols))
    axes = np.asarray(fig.subplots((n + cols - 1) // cols, cols, squeeze=False)).ravel()
    for ax, sc in zip(axes, result.scenarios):
        board = rows(sc, result.policies)
        ax.bar(range(len(board)), [s.mean for _, s, _ in board], yerr=[0.0 if s.ci95 != s.ci95 else s.ci95 for _, s, _ in board],
               color=[f"C{i % 10}" for i in range(len(board))], capsize=3)  # fmt: skip
        ax.set_xticks(range(len(board)), [label for label, _, _ in board], rotation=35, ha="right", fontsize=7)
        ax.set_title(sc.scenario.name)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(f"{result.suite.name}: mean total reward per episode, 95% confidence intervals")
    fig.tight_layout()
    fig.savefig(path)
    return path
