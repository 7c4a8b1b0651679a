"""Workloads with random events: a steady rate that drifts, flash crowds, and on/off bursts.

Their randomness is fixed by an integer ``key`` (drawn from the episode's seed when the spec
says ``key=random``, the default): ``rate(t)`` is then a deterministic function of ``t``,
computed from counter-based random numbers (:mod:`loadgen.noise`), so nothing is stored
and any ``t`` can be asked in any order. Time is cut into slots; a slot holds one event
with probability ``SLOT_CHANCE``, at a uniform time inside it. That is a Bernoulli
approximation of a Poisson process whose event rate is exact and whose gaps are
exponential down to the slot's width (a quarter of the mean gap).

This module has no Locust import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from loadgen.noise import KEY_LIMIT, uniform, value_noise
from loadgen.shapes import ProfileError, Shape, check_positive, check_rate_range, fmt

__all__ = ["SLOT_CHANCE", "Flash", "OnOff", "Steady", "check_key"]

#: Chance that a slot holds an event; the slot is ``SLOT_CHANCE × mean gap`` seconds wide.
SLOT_CHANCE = 0.25
#: Slots looked back for the last switch of an on/off profile before giving up (0.75**128 ≈ 1e-16).
_MAX_LOOKBACK = 128


def check_key(key: int) -> None:
    if not (isinstance(key, int) and not isinstance(key, bool) and 0 <= key < KEY_LIMIT):
        raise ProfileError(f"key must be an integer in [0, {KEY_LIMIT}) or 'random', got {key!r}")


@dataclass(frozen=True)
class Steady(Shape):
    """A steady rate with slow drift: ``rate × (1 + noise × v(t))``.

    ``v`` is smooth noise of mean 0 and standard deviation 1 at knots ``corr`` seconds
    apart, bounded by ±√3, so ``noise`` is the relative standard deviation of the rate at a
    knot (at most 1/√3, so that the rate stays >= 0). The long-run mean is ``rate``.
    """

    rate_: float
    noise: float = 0.0
    corr: float = 300.0
    key: int = 0
    PARAMS: ClassVar[tuple[str, ...]] = ("rate_", "noise", "corr", "key")

    def __post_init__(self) -> None:
        check_rate_range(self.rate_, self.rate_)
        if not 0.0 <= self.noise <= 1.0 / math.sqrt(3.0):
            raise ProfileError(f"noise must be in [0, 0.577] (1/√3 keeps the rate >= 0), got {self.noise!r}")
        check_positive("corr", self.corr)
        check_key(self.key)

    @property
    def spec(self) -> str:
        return f"steady:rate={fmt(self.rate_)},noise={fmt(self.noise)},corr={fmt(self.corr)},key={self.key}"

    @property
    def peak(self) -> float:
        return self.rate_ * (1.0 + math.sqrt(3.0) * self.noise)

    @staticmethod
    def kernel(p: Any, t: np.ndarray) -> np.ndarray:
        return p.rate_ * (1.0 + p.noise * value_noise(p.key, t, p.corr))


@dataclass(frozen=True)
class Flash(Shape):
    """Flash crowds: sudden surges on top of a ``base`` rate.

    Surges start on average every ``every`` seconds (a Poisson process, see the module
    docstring). Each adds a height drawn uniformly from ``[0.5, 1.5] × height`` req/s for a
    length drawn uniformly from ``[0.5, 1.5] × length`` seconds, reached by a linear rise
    over its first ``rise`` seconds. Surges that overlap add up. The long-run mean rate is
    ``base + height × (length - rise / 2) / every``.
    """

    base: float
    height: float
    every: float
    length: float
    rise: float = 0.0
    key: int = 0
    PARAMS: ClassVar[tuple[str, ...]] = ("base", "height", "every", "length", "rise", "key")

    def __post_init__(self) -> None:
        check_rate_range(self.base, self.base)
        check_rate_range(self.height, self.height)
        check_positive("every", self.every)
        check_positive("length", self.length)
        if not 0.0 <= self.rise <= self.length / 2:
            raise ProfileError(f"rise must be in [0, length/2] = [0, {fmt(self.length / 2)}], got {self.rise!r}")
        check_key(self.key)

    @property
    def spec(self) -> str:
        return (
            f"flash:base={fmt(self.base)},height={fmt(self.height)},every={fmt(self.every)},"
            f"length={fmt(self.length)},rise={fmt(self.rise)},key={self.key}"
        )

    @property
    def peak(self) -> float:
        """A bound: every surge that can overlap at one moment, each at its tallest."""
        overlapping = math.ceil(1.5 * self.length / (SLOT_CHANCE * self.every)) + 1
        return self.base + 1.5 * self.height * overlapping

    @staticmethod
    def kernel(p: Any, t: np.ndarray) -> np.ndarray:
        width = SLOT_CHANCE * p.every
        slot = np.floor(t / width)
        total = p.base + np.zeros_like(t)
        # A surge that began more than its longest length ago is over: look back that far.
        lookback = int(np.max(np.ceil(1.5 * p.length / width))) + 1
        for back in range(lookback):
            s = slot - back
            begins = uniform(p.key, s, 0) < SLOT_CHANCE
            age = t - (s + uniform(p.key, s, 1)) * width
            height = p.height * (0.5 + uniform(p.key, s, 2))
            length = p.length * (0.5 + uniform(p.key, s, 3))
            ramp = np.clip(age / np.maximum(p.rise, 1e-9), 0.0, 1.0)
            total = total + np.where(begins & (age >= 0) & (age < length), height * ramp, 0.0)
        return total


@dataclass(frozen=True)
class OnOff(Shape):
    """On/off bursts (a two-level Markov-modulated Poisson process).

    The rate is ``high`` for exponential sojourns of mean ``on`` seconds and ``low`` for
    sojourns of mean ``off`` seconds, switching back and forth. The long-run mean is
    ``low + (high - low) × on / (on + off)``, and the process starts in its stationary
    state (``high`` with probability ``on / (on + off)``).

    Computed by uniformisation: events come at rate ``1/on + 1/off``, and after each event
    the level is ``high`` with probability ``on / (on + off)``, whatever it was before. So
    the level at ``t`` is decided by the last event before ``t`` alone.
    """

    low: float
    high: float
    on: float
    off: float
    key: int = 0
    PARAMS: ClassVar[tuple[str, ...]] = ("low", "high", "on", "off", "key")

    def __post_init__(self) -> None:
        check_rate_range(self.low, self.high)
        check_positive("on", self.on)
        check_positive("off", self.off)
        check_key(self.key)

    @property
    def spec(self) -> str:
        return (
            f"onoff:low={fmt(self.low)},high={fmt(self.high)},on={fmt(self.on)},"
            f"off={fmt(self.off)},key={self.key}"
        )

    @property
    def peak(self) -> float:
        return self.high

    @staticmethod
    def kernel(p: Any, t: np.ndarray) -> np.ndarray:
        shape = np.broadcast_shapes(np.shape(t), np.shape(p.on))
        width = SLOT_CHANCE / (1.0 / p.on + 1.0 / p.off)
        share_on = p.on / (p.on + p.off)
        times, width, share_on, key = (np.broadcast_to(x, shape).ravel() for x in (t, width, share_on, p.key))
        slot = np.floor(times / width)
        high = np.zeros(times.size, dtype=bool)
        todo = np.arange(times.size)
        for back in range(_MAX_LOOKBACK):
            k, s = key[todo], slot[todo] - back
            event = uniform(k, s, 0) < SLOT_CHANCE
            if back == 0:  # in the slot of t, only an event before t counts
                event &= (s + uniform(k, s, 1)) * width[todo] <= times[todo]
            done = todo[event]
            high[done] = uniform(k[event], s[event], 2) < share_on[done]
            todo = todo[~event]
            if not todo.size:
                break
        else:  # no event in 128 slots (about 1e-16 likely): the stationary level
            high[todo] = uniform(key[todo], slot[todo], 3) < share_on[todo]
        return np.where(high.reshape(shape), p.high, p.low)
