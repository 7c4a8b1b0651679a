"""An evaluation as a terminal table, CSV files and JSON; and a progress line on stderr."""

from __future__ import annotations

import csv
import json
import math
import sys
import time
from pathlib import Path
from typing import IO, Any

from faastrain_async.evaluation.harness import METRICS, Evaluation, as_dict
from faastrain_async.evaluation.stats import Stat, aggregate

#: Column titles and decimals of the table.
COLUMNS: dict[str, tuple[str, int]] = {
    "total_reward": ("reward", 2),
    "throughput_pct": ("thr %", 2),
    "mean_exec_s": ("exec s", 3),
    "p95_exec_s": ("p95 s", 3),
    "mean_replicas": ("replicas", 2),
    "replica_seconds": ("replica-s", 0),
    "slo_violations": ("SLO viol.", 2),
    "settle_s": ("settle s", 2),
}


def aggregates(evaluation: Evaluation) -> dict[str, dict[str, Stat]]:
    """policy -> metric -> Stat over its episodes."""
    return {p: {m: aggregate([r.metrics[m] for r in evaluation.of(p)]) for m in METRICS} for p in evaluation.policies}


def label(evaluation: Evaluation, policy: str) -> str:
    """The policy's name, with what a hindsight policy chose: ``best-static (static:4)``."""
    return f"{policy} ({evaluation.chosen[policy]})" if policy in evaluation.chosen else policy


def table(evaluation: Evaluation) -> str:
    """Aggregates as an aligned text table: mean ± 95% CI half-width over episodes."""
    agg = aggregates(evaluation)
    header = ["policy"] + [COLUMNS[m][0] for m in METRICS]
    lines = [[label(evaluation, p)] + [agg[p][m].text(COLUMNS[m][1]) for m in METRICS] for p in evaluation.policies]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    fmt = lambda row: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))  # noqa: E731
    n = len(evaluation.of(evaluation.policies[0]))
    out = [fmt(header), "  ".join("-" * w for w in widths), *map(fmt, lines)]
    out.append(f"mean ± 95% CI over {n} episodes; SLO: p95 <= {evaluation.slo.p95_seconds:g} s and throughput >= {evaluation.slo.throughput_pct:g}%")
    return "\n".join(out)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None  # JSON has no NaN: null marks "no measurement"


def to_json(evaluation: Evaluation, config: dict[str, Any] | None = None) -> dict[str, Any]:
    agg = aggregates(evaluation)
    return {
        "config": config or {},
        "slo": {"p95_seconds": evaluation.slo.p95_seconds, "throughput_pct": evaluation.slo.throughput_pct},
        "chosen": evaluation.chosen,
        "aggregates": {
            p: {m: {"mean": _finite(s.mean), "ci95": _finite(s.ci95), "n": s.n} for m, s in stats.items()} for p, stats in agg.items()
        },
        "episodes": [{k: (_finite(v) if isinstance(v, float) else v) for k, v in as_dict(r).items()} for r in evaluation.results],
    }


def write(evaluation: Evaluation, folder: Path, config: dict[str, Any] | None = None) -> list[Path]:
    """Write episodes.csv, summary.csv, steps.csv and results.json into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "episodes.csv", folder / "summary.csv", folder / "steps.csv", folder / "results.json"]
    with paths[0].open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["policy", "seed", "episode", "world_seed", *METRICS])
        w.writeheader()
        w.writerows(as_dict(r) for r in evaluation.results)
    with paths[1].open("w", newline="") as f:
        w2 = csv.writer(f)
        w2.writerow(["policy", "chosen", "metric", "mean", "ci95", "n"])
        for p, stats in aggregates(evaluation).items():
            for m, s in stats.items():
                w2.writerow([p, evaluation.chosen.get(p, ""), m, s.mean, s.ci95, s.n])
    with paths[2].open("w", newline="") as f:
        steps: csv.DictWriter[str] | None = None
        for r in evaluation.results:
            for row in r.rows:
                # The evaluation's episode number, not the rollout's: steps.csv joins episodes.csv
                # on (policy, seed, episode).
                flat = {"policy": r.policy, "seed": r.seed, **row.flat(), "episode": r.episode}
                if steps is None:
                    steps = csv.DictWriter(f, fieldnames=list(flat), extrasaction="ignore")
                    steps.writeheader()
                steps.writerow(flat)
    paths[3].write_text(json.dumps(to_json(evaluation, config), indent=2) + "\n")
    return paths


class Progress:
    """A progress bar on a terminal, or a line every 10% elsewhere; nothing when disabled."""

    def __init__(self, stream: IO[str] | None = None, *, enabled: bool = True, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.width = width
        self.tty = self.stream.isatty()
        self._started = time.perf_counter()
        self._shown = -1

    def __call__(self, done: int, total: int, label: str) -> None:
        if not self.enabled or total <= 0:
            return
        frac = done / total
        elapsed = time.perf_counter() - self._started
        eta = elapsed / frac - elapsed if frac > 0 else math.nan
        if self.tty:
            bar = "#" * int(frac * self.width)
            print(f"\r[{bar:<{self.width}}] {done}/{total} episodes  {label:<24.24} eta {eta:5.0f}s", end="", file=self.stream, flush=True)
            if done == total:
                print(file=self.stream)
        elif int(frac * 10) > self._shown:
            self._shown = int(frac * 10)
            print(f"evaluate: {done}/{total} episodes ({frac:.0%}), {label}, {elapsed:.1f}s", file=self.stream, flush=True)
