"""PNG figures of an evaluation (matplotlib, imported only here, when plotting).

Uses matplotlib's object API with the Agg canvas, never ``pyplot``, so plotting neither needs
a display nor changes global matplotlib state in the caller's process.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from faastrain_async.errors import ConfigError
from faastrain_async.evaluation.harness import METRICS, Evaluation
from faastrain_async.evaluation.report import COLUMNS, aggregates, label


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
