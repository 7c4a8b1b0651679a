"""Workload profiles: the intended request rate as a function of time.

A profile answers one question, ``rate(t)``: how many requests per second should arrive
``t`` seconds after the workload started. The simulator draws Poisson arrivals around it
and the Locust load generator paces its users by it, so both share this one definition.
This module must never import Locust or gevent.

Profiles parse from short spec strings, as used on the command line::

    constant:rate=10
    sine:period=600,low=2,high=40[,phase=0]
    square:period=120,low=2,high=40[,duty=0.5]
    sawtooth:period=300,low=0,high=30
    steps:rates=5/20/10,hold=60[,loop=1]
    diurnal:low=1,high=40[,period=86400,peak=0.6,sharpness=2]
    trace:path=FILE[,interval=30,scale=1,compress=1,loop=1]

``rate`` accepts a float or a numpy array of times and answers in kind.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = [
    "Profile",
    "ProfileError",
    "Constant",
    "Sine",
    "Square",
    "Sawtooth",
    "Steps",
    "Diurnal",
    "Trace",
    "load_trace",
    "parse_profile",
    "PROFILE_KINDS",
]


class ProfileError(ValueError):
    """A profile spec, parameter or trace file is not valid."""


@runtime_checkable
class Profile(Protocol):
    """Intended request rate over time."""

    @property
    def spec(self) -> str:
        """The spec string that parses back to this profile."""
        ...

    @property
    def peak(self) -> float:
        """The highest rate the profile ever asks for (req/s)."""
        ...

    @property
    def duration(self) -> float | None:
        """Seconds until the profile ends, or None when it runs forever."""
        ...

    def rate(self, t: float | np.ndarray) -> float | np.ndarray:
        """Requests per second at ``t`` seconds since the start (0 after the end)."""
        ...


def _positive(name: str, value: float) -> None:
    if not value > 0 or not math.isfinite(value):
        raise ProfileError(f"{name} must be a finite number > 0, got {value!r}")


def _rate_range(low: float, high: float) -> None:
    if not (math.isfinite(low) and math.isfinite(high)) or low < 0 or high < low:
        raise ProfileError(f"rates need 0 <= low <= high (finite), got low={low!r}, high={high!r}")


def _fmt(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class Constant:
    """The same rate forever."""

    rate_: float

    def __post_init__(self) -> None:
        _rate_range(self.rate_, self.rate_)

    @property
    def spec(self) -> str:
        return f"constant:rate={_fmt(self.rate_)}"

    @property
    def peak(self) -> float:
        return self.rate_

    @property
    def duration(self) -> None:
        return None

    def rate(self, t: float | np.ndarray) -> float | np.ndarray:
        if isinstance(t, np.ndarray):
            return np.full(t.shape, self.rate_)
        return self.rate_


@dataclass(frozen=True)
class _Wave:
    """A shape that repeats every ``period`` seconds between ``low`` and ``high`` forever."""

    period: float
    low: float
    high: float

    def __post_init__(self) -> None:
        _positive("period", self.period)
        _rate_range(self.low, self.high)

    def _spec(self, kind: str, **extra: float) -> str:
        parts = [f"period={_fmt(self.period)}", f"low={_fmt(self.low)}", f"high={_fmt(self.high)}"]
        parts += [f"{key}={_fmt(value)}" for key, value in extra.items()]
        return f"{kind}:{','.join(parts)}"

    @property
    def peak(self) -> float:
        return self.high

    @property
    def duration(self) -> None:
        return None


@dataclass(frozen=True)
class Sine(_Wave):
    """``low + (high - low) * (1 + sin(2π (t / period + phase))) / 2``: starts half-way up."""

    phase: float = 0.0

    @property
    def spec(self) -> str:
        return self._spec("sine", phase=self.phase)

    def rate(self, t: float | np.ndarray) -> float | np.ndarray:
        wave = (1.0 + np.sin(2.0 * np.pi * (t / self.period + self.phase))) / 2.0
        return self.low + (self.high - self.low) * wave


@dataclass(frozen=True)
class Square(_Wave):
    """``high`` for the first ``duty`` fraction of each period, ``low`` for the rest."""

    duty: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.duty <= 1.0:
            raise ProfileError(f"duty must be in [0, 1], got {self.duty!r}")

    @property
    def spec(self) -> str:
        return self._spec("square", duty=self.duty)

    @property
    def peak(self) -> float:
        return self.high if self.duty > 0 else self.low

    def rate(self, t: float | np.ndarray) -> float | np.ndarray:
        on = np.mod(t, self.period) < self.duty * self.period
        return np.where(on, self.high, self.low) if isinstance(t, np.ndarray) else (
            self.high if on else self.low
        )


@dataclass(frozen=True)
class Sawtooth(_Wave):
    """Rises linearly from ``low`` to ``high`` over each period, then drops back."""

    @property
    def spec(self) -> str:
        return self._spec("sawtooth")

    def rate(self, t: float | np.ndarray) -> float | np.ndarray:
        return self.low + (self.high - self.low) * (np.mod(t, self.period) / self.period)


def _piecewise(values: np.ndarray, hold: float, t: float | np.ndarray, loop: bool) -> float | np.ndarray:
    """Value of a piecewise-constant sequence with pieces ``hold`` seconds long."""
    index = np.floor_divide(t, hold).astype(np.int64) if isinstance(t, np.ndarray) else int(t // hold)
    n = len(values)
    if loop:
        return values[np.mod(index, n)] if isinstance(t, np.ndarray) else float(values[index % n])
    inside = (index >= 0) & (index < n)
    if isinstance(t, np.ndarray):
        return np.where(inside, values[np.clip(index, 0, n - 1)], 0.0)
    return float(values[index]) if inside else 0.0


@dataclass(frozen=True)
class Steps:
    """A sequence of rates, each held for ``hold`` seconds; repeats when ``loop``."""

    rates: tuple[float, ...]
    hold: float
    loop: bool = True
    _values: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.rates:
            raise ProfileError("steps needs at least one rate, e.g. rates=5/20/10")
        for r in self.rates:
            _rate_range(r, r)
        _positive("hold", self.hold)
        object.__setattr__(self, "_values", np.asarray(self.rates, dtype=float))

    @property
    def spec(self) -> str:
        rates = "/".join(_fmt(r) for r in self.rates)
        return f"steps:rates={rates},hold={_fmt(self.hold)},loop={int(self.loop)}"

    @property
    def peak(self) -> float:
        return max(self.rates)

    @property
    def duration(self) -> float | None:
        return None if self.loop else self.hold * len(self.rates)

    def rate(self, t: float | np.ndarray) -> float | np.ndarray:
        return _piecewise(self._values, self.hold, t, self.loop)


@dataclass(frozen=True)
class Diurnal:
    """A day-shaped cycle: a long quiet night and one peak at ``peak`` (a fraction of the period).

    ``rate = low + (high - low) * ((1 + cos(2π (t / period - peak))) / 2) ** sharpness``;
    a larger ``sharpness`` makes the busy part of the day shorter.
    """

    low: float
    high: float
    period: float = 86400.0
    peak_at: float = 0.6
    sharpness: float = 2.0

    def __post_init__(self) -> None:
        _rate_range(self.low, self.high)
        _positive("period", self.period)
        _positive("sharpness", self.sharpness)
        if not 0.0 <= self.peak_at <= 1.0:
            raise ProfileError(f"peak must be a fraction of the period in [0, 1], got {self.peak_at!r}")

    @property
    def spec(self) -> str:
        return (
            f"diurnal:low={_fmt(self.low)},high={_fmt(self.high)},period={_fmt(self.period)},"
            f"peak={_fmt(self.peak_at)},sharpness={_fmt(self.sharpness)}"
        )

    @property
    def peak(self) -> float:
        return self.high

    @property
    def duration(self) -> None:
        return None

    def rate(self, t: float | np.ndarray) -> float | np.ndarray:
        wave = (1.0 + np.cos(2.0 * np.pi * (t / self.period - self.peak_at))) / 2.0
        return self.low + (self.high - self.low) * wave**self.sharpness


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
        _positive("interval", self.interval)
        _positive("scale", self.scale)
        _positive("compress", self.compress)
        rates = np.asarray(self.counts, dtype=float) * self.scale / self.replay_interval
        object.__setattr__(self, "_rates", rates)

    @property
    def replay_interval(self) -> float:
        """Seconds one trace interval lasts when replayed."""
        return self.interval / self.compress

    @property
    def spec(self) -> str:
        return (
            f"trace:path={self.source},interval={_fmt(self.interval)},scale={_fmt(self.scale)},"
            f"compress={_fmt(self.compress)},loop={int(self.loop)}"
        )

    @property
    def peak(self) -> float:
        return float(self._rates.max())

    @property
    def duration(self) -> float | None:
        return None if self.loop else self.replay_interval * len(self.counts)

    def rate(self, t: float | np.ndarray) -> float | np.ndarray:
        return _piecewise(self._rates, self.replay_interval, t, self.loop)

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


# kind -> (constructor, {spec key: (constructor argument, converter)}, required keys)
def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _rates(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split("/"))


_KINDS: dict[str, tuple[type, dict[str, tuple[str, object]], tuple[str, ...]]] = {
    "constant": (Constant, {"rate": ("rate_", float)}, ("rate",)),
    "sine": (
        Sine,
        {"period": ("period", float), "low": ("low", float), "high": ("high", float), "phase": ("phase", float)},
        ("period", "low", "high"),
    ),
    "square": (
        Square,
        {"period": ("period", float), "low": ("low", float), "high": ("high", float), "duty": ("duty", float)},
        ("period", "low", "high"),
    ),
    "sawtooth": (
        Sawtooth,
        {"period": ("period", float), "low": ("low", float), "high": ("high", float)},
        ("period", "low", "high"),
    ),
    "steps": (
        Steps,
        {"rates": ("rates", _rates), "hold": ("hold", float), "loop": ("loop", _bool)},
        ("rates", "hold"),
    ),
    "diurnal": (
        Diurnal,
        {
            "low": ("low", float),
            "high": ("high", float),
            "period": ("period", float),
            "peak": ("peak_at", float),
            "sharpness": ("sharpness", float),
        },
        ("low", "high"),
    ),
    "trace": (
        Trace,
        {
            "path": ("path", str),
            "interval": ("interval", float),
            "scale": ("scale", float),
            "compress": ("compress", float),
            "loop": ("loop", _bool),
        },
        ("path",),
    ),
}

PROFILE_KINDS: tuple[str, ...] = tuple(_KINDS)


def parse_profile(spec: str) -> Profile:
    """Build a profile from a spec such as ``sine:period=600,low=2,high=40``.

    Raises :class:`ProfileError` naming the bad part: an unknown kind, an unknown or
    missing key, a value that is not a number, or a value out of range.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ProfileError(f"profile spec must be a non-empty string like 'constant:rate=10', got {spec!r}")
    kind, _, rest = spec.strip().partition(":")
    kind = kind.strip().lower()
    if kind not in _KINDS:
        raise ProfileError(f"profile spec {spec!r}: unknown kind {kind!r}; known: {', '.join(PROFILE_KINDS)}")
    cls, keys, required = _KINDS[kind]
    kwargs: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, text = part.partition("=")
        key = key.strip().lower()
        if not eq or key not in keys:
            raise ProfileError(
                f"profile spec {spec!r}: bad part {part!r}; {kind} takes {', '.join(k + '=' for k in keys)}"
            )
        arg, convert = keys[key]
        try:
            kwargs[arg] = convert(text.strip())  # type: ignore[operator]
        except ValueError:
            raise ProfileError(f"profile spec {spec!r}: {key}={text.strip()!r} is not a valid value") from None
    missing = [k for k in required if keys[k][0] not in kwargs]
    if missing:
        raise ProfileError(f"profile spec {spec!r}: missing {', '.join(k + '=' for k in missing)}")
    try:
        if kind == "trace":
            path = kwargs.pop("path")
            return Trace.from_file(str(path), **kwargs)  # type: ignore[arg-type]
        return cls(**kwargs)
    except ProfileError as e:
        raise ProfileError(f"profile spec {spec!r}: {e}") from None
