"""Azure-like synthetic traces: per-minute rates with a daily cycle and heavy-tailed bursts.

The shape follows the published characterisation of the Azure Functions 2019 trace
(Shahrad et al., "Serverless in the Wild", USENIX ATC 2020): invocations are counted per
minute; the platform's hourly volume follows a daily cycle whose peak is about 1.5 times
its trough; and most functions without timer triggers arrive in bursts, with inter-arrival
times more variable than a Poisson process's (coefficient of variation above 1). See
docs/loadgen.md ("azure") for the figures and what the defaults reproduce.

This module has no Locust import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from loadgen.bursts import check_key
from loadgen.noise import irwin_hall, uniform
from loadgen.shapes import ProfileError, Shape, check_fraction, check_positive, check_rate_range, fmt

__all__ = ["AzureLike", "MINUTES_PER_DAY"]

MINUTES_PER_DAY = 1440
#: Where the daily peak falls, as a fraction of the day (the trough is half a day away).
_PEAK_AT = 0.5


@dataclass(frozen=True)
class AzureLike(Shape):
    """A synthetic per-minute trace: ``mean × daily(m) × noise(m) × burst(m) / normaliser``.

    Minute ``m`` lasts ``day / 1440`` seconds (a day of ``day`` seconds; 86400 is real time)
    and holds one rate:

    * ``daily``: ``1 + a cos(2π (time of day - ½))`` with ``a`` such that the peak is
      ``swing`` times the trough; the day starts at fraction ``start`` of it at ``t = 0``;
    * ``noise``: ``exp(noise × z)`` with ``z`` nearly normal (mean 0, variance 1, |z| <= 2√3);
    * ``burst``: ``1 + X`` in a burst minute, else 1; bursts come ``bursts`` times per hour
      (60 minutes) on average, each minute by itself, and ``X`` is Pareto with shape
      ``tail`` and scale ``height``, capped at ``top``;
    * the normaliser divides by the means of ``noise`` and ``burst``, so ``mean`` is the
      long-run mean rate (req/s).
    """

    mean: float
    swing: float = 1.5
    bursts: float = 10.0
    height: float = 2.0
    tail: float = 1.5
    top: float = 50.0
    noise: float = 0.5
    day: float = 86400.0
    start: float = 0.0
    key: int = 0
    PARAMS: ClassVar[tuple[str, ...]] = (
        "mean", "swing", "bursts", "height", "tail", "top", "noise", "day", "start", "key",
    )  # fmt: skip

    def __post_init__(self) -> None:
        check_rate_range(self.mean, self.mean)
        if not (math.isfinite(self.swing) and self.swing >= 1.0):
            raise ProfileError(f"swing (daily peak / trough) must be >= 1, got {self.swing!r}")
        if not 0.0 <= self.bursts <= 60.0:
            raise ProfileError(f"bursts must be in [0, 60] per hour (at most one a minute), got {self.bursts!r}")
        check_positive("height", self.height, "factor")
        if not (math.isfinite(self.tail) and self.tail > 1.0):
            raise ProfileError(f"tail (the Pareto shape) must be > 1, got {self.tail!r}")
        if not (math.isfinite(self.top) and self.top >= self.height):
            raise ProfileError(f"top must be >= height ({fmt(self.height)}), got {self.top!r}")
        if not (math.isfinite(self.noise) and self.noise >= 0.0):
            raise ProfileError(f"noise must be a number >= 0, got {self.noise!r}")
        check_positive("top", self.top, "factor")
        check_positive("day", self.day)
        check_fraction("start", self.start)
        check_key(self.key)

    @property
    def spec(self) -> str:
        return (
            f"azure:mean={fmt(self.mean)},swing={fmt(self.swing)},bursts={fmt(self.bursts)},"
            f"height={fmt(self.height)},tail={fmt(self.tail)},top={fmt(self.top)},noise={fmt(self.noise)},"
            f"day={fmt(self.day)},start={fmt(self.start)},key={self.key}"
        )

    @property
    def peak(self) -> float:
        """The highest minute of the first day (later days differ by their random bursts)."""
        minute = self.day / MINUTES_PER_DAY
        return float(np.max(self.rate((np.arange(MINUTES_PER_DAY) + 0.5) * minute)))

    @staticmethod
    def kernel(p: Any, t: np.ndarray) -> np.ndarray:
        minute = np.floor(t * MINUTES_PER_DAY / p.day)
        amplitude = (p.swing - 1.0) / (p.swing + 1.0)
        time_of_day = (minute + 0.5) / MINUTES_PER_DAY + p.start
        daily = 1.0 + amplitude * np.cos(2.0 * np.pi * (time_of_day - _PEAK_AT))
        noise = np.exp(p.noise * irwin_hall(p.key, minute, 0))
        chance = p.bursts / 60.0
        burst = uniform(p.key, minute, 4) < chance
        size = np.minimum(p.height * (1.0 - uniform(p.key, minute, 5)) ** (-1.0 / p.tail), p.top)
        return p.mean * daily * noise * (1.0 + burst * size) / (_noise_mean(p.noise) * (1.0 + chance * _size_mean(p)))


def _noise_mean(sigma: Any) -> Any:
    """E[exp(σ z)] for the sum-of-four-uniforms ``z``: ``(sinh(c) / c) ** 4`` with ``c = σ √3 / 2``."""
    c = sigma * math.sqrt(3.0) / 2.0
    ratio = np.sinh(c) / np.where(c > 0, c, 1.0)
    return np.where(c > 0, ratio, 1.0) ** 4


def _size_mean(p: Any) -> Any:
    """Mean of a Pareto(shape ``tail``, scale ``height``) variable capped at ``top``."""
    a, h, c = p.tail, p.height, p.top
    return (a * h - h**a * c ** (1.0 - a)) / (a - 1.0)
