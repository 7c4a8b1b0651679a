"""Workload shapes: the intended request rate as a function of time.

A profile answers one question, ``rate(t)``: how many requests per second should arrive
``t`` seconds after the workload started. The simulator draws Poisson arrivals around it
and the Locust load generator paces its users by it, so both share this one definition.
This module must never import Locust or gevent. Spec strings are parsed in
:mod:`loadgen.profiles`; trace replay is in :mod:`loadgen.trace`.

``rate`` accepts a float or a numpy array of times and answers in kind.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


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


def check_positive(name: str, value: float) -> None:
    if not value > 0 or not math.isfinite(value):
        raise ProfileError(f"{name} must be a finite number > 0, got {value!r}")


def check_rate_range(low: float, high: float) -> None:
    if not (math.isfinite(low) and math.isfinite(high)) or low < 0 or high < low:
        raise ProfileError(f"rates need 0 <= low <= high (finite), got low={low!r}, high={high!r}")


def fmt(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class Constant:
    """The same rate forever."""

    rate_: float

    def __post_init__(self) -> None:
        check_rate_range(self.rate_, self.rate_)

    @property
    def spec(self) -> str:
        return f"constant:rate={fmt(self.rate_)}"

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
        check_positive("period", self.period)
        check_rate_range(self.low, self.high)

    def _spec(self, kind: str, **extra: float) -> str:
        parts = [f"period={fmt(self.period)}", f"low={fmt(self.low)}", f"high={fmt(self.high)}"]
        parts += [f"{key}={fmt(value)}" for key, value in extra.items()]
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


def piecewise(values: np.ndarray, hold: float, t: float | np.ndarray, loop: bool) -> float | np.ndarray:
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
            check_rate_range(r, r)
        check_positive("hold", self.hold)
        object.__setattr__(self, "_values", np.asarray(self.rates, dtype=float))

    @property
    def spec(self) -> str:
        rates = "/".join(fmt(r) for r in self.rates)
        return f"steps:rates={rates},hold={fmt(self.hold)},loop={int(self.loop)}"

    @property
    def peak(self) -> float:
        return max(self.rates)

    @property
    def duration(self) -> float | None:
        return None if self.loop else self.hold * len(self.rates)

    def rate(self, t: float | np.ndarray) -> float | np.ndarray:
        return piecewise(self._values, self.hold, t, self.loop)


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
        check_rate_range(self.low, self.high)
        check_positive("period", self.period)
        check_positive("sharpness", self.sharpness)
        if not 0.0 <= self.peak_at <= 1.0:
            raise ProfileError(f"peak must be a fraction of the period in [0, 1], got {self.peak_at!r}")

    @property
    def spec(self) -> str:
        return (
            f"diurnal:low={fmt(self.low)},high={fmt(self.high)},period={fmt(self.period)},"
            f"peak={fmt(self.peak_at)},sharpness={fmt(self.sharpness)}"
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
