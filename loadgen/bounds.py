"""Numeric bounds: the smallest and largest value a setting may take, and what it means.

A bound keeps a value inside what the code can compute with (no overflow, no array that
cannot fit in memory, no wait that never ends) and inside what makes sense. Each bound is
stated once, in a table: :data:`LOAD_BOUNDS` here for workloads and the load generator,
``faastrain_async.config.BOUNDS`` for the environment's settings. The message of a value
out of bounds names the value, the bound and its meaning. This module has no Locust import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["LOAD_BOUNDS", "Bound"]


@dataclass(frozen=True)
class Bound:
    """A closed interval ``[low, high]`` (``(low, high]`` with ``low_open``) of numbers or integers."""

    low: float
    high: float
    #: What the value is, for the message (units included).
    meaning: str
    low_open: bool = False
    integer: bool = False

    def allows(self, value: object) -> bool:
        """True for a number (not a bool) inside the bound; an integer bound takes ints only."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.integer and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        return (self.low < value if self.low_open else self.low <= value) and value <= self.high

    def describe(self) -> str:
        """``"a number in (0, 1e+06]: requests per second ..."``."""
        kind = "an integer" if self.integer else "a number"
        return f"{kind} in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}]: {self.meaning}"

    def problem(self, name: str, value: object) -> str | None:
        """None if ``value`` is allowed, else the message naming ``name=value`` and the bound."""
        return None if self.allows(value) else f"{name}={value!r} is not valid: must be {self.describe()}"


#: Workloads and the load generator. A profile's rate is bounded so that arrival draws stay
#: in range (a Poisson draw overflows past about 1e18) and no generator is asked for a rate
#: no machine could send; durations so that times stay exact in floating point.
LOAD_BOUNDS: dict[str, Bound] = {
    "rate": Bound(0, 1e6, "requests per second a workload asks for (at its peak)"),
    "seconds": Bound(1e-3, 1e9, "seconds (a period, hold, length or interval of a workload)"),
    "factor": Bound(0, 1e6, "a multiplier of a workload (a trace's scale or compress, a burst's height)", low_open=True),
    "timeout": Bound(0, 3600, "seconds a request may take before it fails", low_open=True),
    "duration": Bound(0, 1e9, "seconds the load generator runs", low_open=True),
    "max_users": Bound(1, 1e6, "concurrent requests at most", integer=True),
    "workers": Bound(0, 1024, "load generator processes", integer=True),
}
