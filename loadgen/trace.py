"""Replay of a recorded workload: per-interval request counts from a JSON list or a CSV file."""

from __future__ import annotations

import csv
import functools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from loadgen.bounds import LOAD_BOUNDS
from loadgen.shapes import ProfileError, Shape, check_positive, fmt, sequence_kernel

__all__ = ["Trace", "cached_counts", "load_trace"]


@functools.lru_cache(maxsize=32)
def _shared_table(counts: tuple[float, ...]) -> np.ndarray:
    # Every replay of the same counts (another offset, scale or episode) shares one array.
    table = np.asarray(counts, dtype=float)
    table.flags.writeable = False
    return table


@dataclass(frozen=True)
class Trace(Shape):
    """Replay of per-interval request counts, from interval ``offset`` on.

    Interval ``i`` of the trace holds ``counts[i]`` requests over ``interval`` seconds. It is
    replayed in ``interval / compress`` seconds with ``counts[i] * scale`` requests, so its
    rate is ``counts[i] * scale * compress / interval``. The replay starts at interval
    ``offset``; with ``loop`` it wraps around to interval 0 after the last one.
    """

    counts: tuple[float, ...]
    interval: float = 30.0
    scale: float = 1.0
    compress: float = 1.0
    loop: bool = True
    source: str = "<inline>"
    offset: int = 0
    table: np.ndarray = field(init=False, repr=False, compare=False)
    PARAMS: ClassVar[tuple[str, ...]] = ("interval", "scale", "compress", "loop", "offset")
    TABLE: ClassVar[str | None] = "counts"
    first: ClassVar[int] = 0

    def __post_init__(self) -> None:
        if not self.counts:
            raise ProfileError(f"trace {self.source} holds no intervals")
        for i, c in enumerate(self.counts):
            if not (math.isfinite(c) and c >= 0):
                raise ProfileError(f"trace {self.source}: interval {i} has count {c!r}; counts must be >= 0")
        check_positive("interval", self.interval)
        check_positive("scale", self.scale, "factor")
        check_positive("compress", self.compress, "factor")
        if not (isinstance(self.offset, int) and 0 <= self.offset < len(self.counts)):
            raise ProfileError(
                f"offset must be an interval of the trace, 0..{len(self.counts) - 1}, got {self.offset!r}"
            )
        object.__setattr__(self, "table", _shared_table(self.counts))
        # Counts, scale and compress are each bounded loosely; the rate they make together is what must fit.
        problem = LOAD_BOUNDS["rate"].problem("peak rate", self.peak)
        if problem is not None:
            raise ProfileError(f"trace {self.source} replayed at scale={fmt(self.scale)}, compress={fmt(self.compress)}: {problem}")

    @property
    def count(self) -> int:
        return len(self.counts)

    @property
    def replay_interval(self) -> float:
        """Seconds one trace interval lasts when replayed."""
        return self.interval / self.compress

    @property
    def spec(self) -> str:
        offset = f",offset={self.offset}" if self.offset else ""
        return (
            f"trace:path={self.source},interval={fmt(self.interval)},scale={fmt(self.scale)},"
            f"compress={fmt(self.compress)},loop={int(self.loop)}{offset}"
        )

    @property
    def peak(self) -> float:
        played = self.table if self.loop else self.table[self.offset :]
        return float(played.max()) * self.scale / self.replay_interval

    @property
    def duration(self) -> float | None:
        return None if self.loop else self.replay_interval * (len(self.counts) - self.offset)

    @staticmethod
    def kernel(p: Any, t: np.ndarray) -> np.ndarray:
        replay = p.interval / p.compress
        counts = sequence_kernel(p, t + p.offset * replay, replay, p.loop)
        # Without a loop nothing plays before the start (the intervals before the offset).
        return np.where((t >= 0) | (p.loop != 0), counts, 0.0) * (p.scale / replay)

    @classmethod
    def from_file(cls, path: str | Path, **options: Any) -> Trace:
        """Load a trace file (see :func:`load_trace`) and build its replay."""
        return cls(cached_counts(str(path)), source=str(path), **options)


def cached_counts(path: str) -> tuple[float, ...]:
    """The counts of a trace file, read once while the file stays unchanged."""
    try:
        stat = os.stat(path)
    except OSError:
        raise ProfileError(f"trace file not found: {path!r}") from None
    return _counts_of(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=32)
def _counts_of(path: str, mtime_ns: int, size: int) -> tuple[float, ...]:
    # Keyed by modification time and size too, so an edited file is read again.
    return tuple(load_trace(path))


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
