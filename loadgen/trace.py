"""Replay of a recorded workload: per-interval request counts from a JSON list or a CSV file."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from loadgen.shapes import ProfileError, check_positive, fmt, piecewise


@dataclass(frozen=True)
class Trace:
    """Replay of per-interval request counts.

    Interval ``i`` of the trace holds ``counts[i]`` requests over ``interval`` seconds. It is
    replayed in ``interval / compress`` seconds with ``counts[i] * scale`` requests, so its
    rate is ``counts[i] * scale * compress / interval``.
    """

    counts: tuple[float, ...]
    interval: float = 30.0
    scale: float = 1.0
    compress: float = 1.0
    loop: bool = True
    source: str = "<inline>"
    _rates: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.counts:
            raise ProfileError(f"trace {self.source} holds no intervals")
        for i, c in enumerate(self.counts):
            if not (math.isfinite(c) and c >= 0):
                raise ProfileError(f"trace {self.source}: interval {i} has count {c!r}; counts must be >= 0")
        check_positive("interval", self.interval)
        check_positive("scale", self.scale)
        check_positive("compress", self.compress)
        rates = np.asarray(self.counts, dtype=float) * self.scale / self.replay_interval
        object.__setattr__(self, "_rates", rates)

    @property
    def replay_interval(self) -> float:
        """Seconds one trace interval lasts when replayed."""
        return self.interval / self.compress

    @property
    def spec(self) -> str:
        return (
            f"trace:path={self.source},interval={fmt(self.interval)},scale={fmt(self.scale)},"
            f"compress={fmt(self.compress)},loop={int(self.loop)}"
        )

    @property
    def peak(self) -> float:
        return float(self._rates.max())

    @property
    def duration(self) -> float | None:
        return None if self.loop else self.replay_interval * len(self.counts)

    def rate(self, t: float | np.ndarray) -> float | np.ndarray:
        return piecewise(self._rates, self.replay_interval, t, self.loop)

    @classmethod
    def from_file(cls, path: str | Path, **options: float | bool) -> Trace:
        """Load a trace file (see :func:`load_trace`) and build its replay."""
        return cls(tuple(load_trace(path)), source=str(path), **options)  # type: ignore[arg-type]


def load_trace(path: str | Path) -> list[float]:
    """Read per-interval request counts from a JSON list or a CSV file.

    JSON: a list of numbers. CSV: one count per row, taken from the last column; a first row
    that is not numeric is taken as a header.
    """
    p = Path(path)
    if not p.is_file():
        raise ProfileError(f"trace file not found: {str(p)!r}")
    text = p.read_text()
    if p.suffix.lower() == ".json" or text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ProfileError(f"trace {str(p)!r} is not valid JSON: {e}") from e
        if not isinstance(data, list) or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in data
        ):
            raise ProfileError(f"trace {str(p)!r} must be a JSON list of numbers")
        return [float(x) for x in data]
    rows = [row for row in csv.reader(text.splitlines()) if row]
    counts: list[float] = []
    for n, row in enumerate(rows, start=1):
        try:
            counts.append(float(row[-1]))
        except ValueError:
            if n == 1:
                continue  # a header row
            raise ProfileError(f"trace {str(p)!r} line {n}: {row[-1]!r} is not a number") from None
    return counts

