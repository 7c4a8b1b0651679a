"""Workload shapes: the intended request rate as a function of time.

A profile answers one question, ``rate(t)``: how many requests per second should arrive
``t`` seconds after the workload started. The simulator draws Poisson arrivals around it
and the Locust load generator paces its users by it, so both share this one definition.
This module must never import Locust or gevent. Spec strings are parsed in
:mod:`loadgen.profiles`; trace replay is in :mod:`loadgen.trace`, the families with random
events in :mod:`loadgen.bursts` and :mod:`loadgen.azure`.

``rate`` accepts a float or a numpy array of times and answers in kind.

Every concrete profile is a :class:`Shape`: its rate is one ``kernel(p, t)`` written with
numpy operations on ``p``'s attributes. The profile passes itself as ``p``; a batch
(:mod:`loadgen.batch`) passes columns of parameters, one row per environment, and gets the
rates of thousands of environments from the same formula in one call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from loadgen.bounds import LOAD_BOUNDS

__all__ = [
    "Profile",
    "ProfileError",
    "Shape",
    "Constant",
    "Sine",
    "Square",
    "Sawtooth",
    "Steps",
    "Step",
    "Diurnal",
    "sequence_kernel",
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
        """The highest rate the profile asks for (req/s); see each family for how it is bounded."""
        ...

    @property
    def duration(self) -> float | None:
        """Seconds until the profile ends, or None when it runs forever."""
        ...

    def rate(self, t: float | np.ndarray) -> float | np.ndarray:
        """Requests per second at ``t`` seconds since the start (0 after the end)."""
        ...


def check_bound(name: str, value: float, bound: str) -> None:
    """A ProfileError naming ``name=value`` unless it lies in ``LOAD_BOUNDS[bound]``."""
    problem = LOAD_BOUNDS[bound].problem(name, value)
    if problem is not None:
        raise ProfileError(problem)


def check_positive(name: str, value: float, bound: str = "seconds") -> None:
    """A duration (or, with ``bound="factor"``, a multiplier) inside its bound."""
    check_bound(name, value, bound)


def check_rate_range(low: float, high: float) -> None:
    check_bound("rate" if low == high else "low", low, "rate")
    check_bound("rate" if low == high else "high", high, "rate")
    if high < low:
        raise ProfileError(f"rates need 0 <= low <= high, got low={low!r}, high={high!r}")


def check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ProfileError(f"{name} must be in [0, 1], got {value!r}")


def fmt(value: float) -> str:
    """A number as a spec writes it: short when that is exact, every digit otherwise."""
    text = f"{value:g}"
    return text if float(text) == value else repr(float(value))


class Shape:
    """A profile whose rate is ``kernel(p, t)``; see the module docstring.

    ``PARAMS`` names the numeric attributes the kernel reads (a batch keeps one column
    each); ``TABLE``, when set, names a sequence of values that a batch shares between
    environments instead of copying it (the kernel then reads ``p.table``, ``p.first`` and
    ``p.count``).
    """

    PARAMS: ClassVar[tuple[str, ...]] = ()
    TABLE: ClassVar[str | None] = None

    @staticmethod
    def kernel(p: Any, t: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @property
    def duration(self) -> float | None:
        """Seconds until the profile ends: None, it runs forever (a few families override it)."""
        return None

    def rate(self, t: float | np.ndarray) -> float | np.ndarray:
        value = self.kernel(self, np.asarray(t, dtype=float))
        return np.asarray(value, dtype=float) if isinstance(t, np.ndarray) else float(value)


@dataclass(frozen=True)
class Constant(Shape):
    """The same rate forever."""

    rate_: float
    PARAMS: ClassVar[tuple[str, ...]] = ("rate_",)

    def __post_init__(self) -> None:
        check_rate_range(self.rate_, self.rate_)

    @property
    def spec(self) -> str:
        return f"constant:rate={fmt(self.rate_)}"

    @property
    def peak(self) -> float:
        return self.rate_

    @staticmethod
    def kernel(p: Any, t: np.ndarray) -> np.ndarray:
        return p.rate_ + np.zeros_like(t)


@dataclass(frozen=True)
class _Wave(Shape):
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


@dataclass(frozen=True)
class Sine(_Wave):
    """``low + (high - low) * (1 + sin(2π (t / period + phase))) / 2``: starts half-way up."""

    phase: float = 0.0
    PARAMS: ClassVar[tuple[str, ...]] = ("period", "low", "high", "phase")

    @property
    def spec(self) -> str:
        return self._spec("sine", phase=self.phase)

    @staticmethod
    def kernel(p: Any, t: np.ndarray) -> np.ndarray:
        wave = (1.0 + np.sin(2.0 * np.pi * (t / p.period + p.phase))) / 2.0
        return p.low + (p.high - p.low) * wave


@dataclass(frozen=True)
class Square(_Wave):
    """``high`` for the first ``duty`` fraction of each period, ``low`` for the rest."""

    duty: float = 0.5
    PARAMS: ClassVar[tuple[str, ...]] = ("period", "low", "high", "duty")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_fraction("duty", self.duty)

    @property
    def spec(self) -> str:
        return self._spec("square", duty=self.duty)

    @property
    def peak(self) -> float:
        return self.high if self.duty > 0 else self.low

    @staticmethod
    def kernel(p: Any, t: np.ndarray) -> np.ndarray:
        return np.where(np.mod(t, p.period) < p.duty * p.period, p.high, p.low)


@dataclass(frozen=True)
class Sawtooth(_Wave):
    """Rises linearly from ``low`` to ``high`` over each period, then drops back."""

    PARAMS: ClassVar[tuple[str, ...]] = ("period", "low", "high")

    @property
    def spec(self) -> str:
        return self._spec("sawtooth")

    @staticmethod
    def kernel(p: Any, t: np.ndarray) -> np.ndarray:
        return p.low + (p.high - p.low) * (np.mod(t, p.period) / p.period)


def sequence_kernel(p: Any, t: np.ndarray, hold: Any, loop: Any) -> np.ndarray:
    """Value of a piecewise-constant sequence with pieces ``hold`` seconds long.

    The sequence is ``p.table[p.first : p.first + p.count]``; it repeats when ``loop`` and
    is 0 outside it otherwise.
    """
    index = np.floor(t / hold)
    inside = (index >= 0) & (index < p.count)
    index = np.where(loop, np.mod(index, p.count), np.clip(index, 0, p.count - 1))
    values = p.table[(p.first + index).astype(np.int64)]
    return np.where(inside | (loop != 0), values, 0.0)


@dataclass(frozen=True)
class Steps(Shape):
    """A sequence of rates, each held for ``hold`` seconds; repeats when ``loop``."""

    rates: tuple[float, ...]
    hold: float
    loop: bool = True
    table: np.ndarray = field(init=False, repr=False, compare=False)
    PARAMS: ClassVar[tuple[str, ...]] = ("hold", "loop")
    TABLE: ClassVar[str | None] = "rates"
    first: ClassVar[int] = 0

    def __post_init__(self) -> None:
        if not self.rates:
            raise ProfileError("steps needs at least one rate, e.g. rates=5/20/10")
        for r in self.rates:
            check_rate_range(r, r)
        check_positive("hold", self.hold)
        object.__setattr__(self, "table", np.asarray(self.rates, dtype=float))

    @property
    def count(self) -> int:
        return len(self.rates)

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

    @staticmethod
    def kernel(p: Any, t: np.ndarray) -> np.ndarray:
        return sequence_kernel(p, t, p.hold, p.loop)


@dataclass(frozen=True)
class Step(Shape):
    """One lasting change: ``before`` until ``at`` seconds, ``after`` from then on."""

    before: float
    after: float
    at: float
    PARAMS: ClassVar[tuple[str, ...]] = ("before", "after", "at")

    def __post_init__(self) -> None:
        check_rate_range(self.before, self.before)
        check_rate_range(self.after, self.after)
        if not (math.isfinite(self.at) and self.at >= 0):
            raise ProfileError(f"at must be a finite number of seconds >= 0, got {self.at!r}")

    @property
    def spec(self) -> str:
        return f"step:before={fmt(self.before)},after={fmt(self.after)},at={fmt(self.at)}"

    @property
    def peak(self) -> float:
        return max(self.before, self.after)

    @staticmethod
    def kernel(p: Any, t: np.ndarray) -> np.ndarray:
        return np.where(t < p.at, p.before, p.after)


@dataclass(frozen=True)
class Diurnal(Shape):
    """A day-shaped cycle: a long quiet night and one peak at ``peak`` (a fraction of the period).

    ``rate = low + (high - low) * ((1 + cos(2π (t / period - peak))) / 2) ** sharpness``;
    a larger ``sharpness`` makes the busy part of the day shorter.
    """

    low: float
    high: float
    period: float = 86400.0
    peak_at: float = 0.6
    sharpness: float = 2.0
    PARAMS: ClassVar[tuple[str, ...]] = ("low", "high", "period", "peak_at", "sharpness")

    def __post_init__(self) -> None:
        check_rate_range(self.low, self.high)
        check_positive("period", self.period)
        check_positive("sharpness", self.sharpness, "factor")
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

    @staticmethod
    def kernel(p: Any, t: np.ndarray) -> np.ndarray:
        wave = (1.0 + np.cos(2.0 * np.pi * (t / p.period - p.peak_at))) / 2.0
        return p.low + (p.high - p.low) * wave**p.sharpness
