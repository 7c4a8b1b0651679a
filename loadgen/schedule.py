"""The arrival schedule: when each request of a run is sent.

A schedule turns a profile's rate into send times, one second at a time. It is seeded and
deterministic: the same profile, seed and arrival mode always give the same times, so a run
can be reproduced and split exactly between processes — every worker builds the one schedule
and keeps every ``shares``-th arrival, counted from the start of the run.

Two arrival modes:

* ``poisson`` — a non-homogeneous Poisson process around ``profile.rate(t)``: the number of
  arrivals in each short slot is Poisson with mean ``rate × slot``, placed uniformly inside
  it. This is how independent clients arrive; a second's count scatters around its target
  by about its square root.
* ``even`` — arrivals where the integral of the rate crosses ``n + ½``: no randomness, so
  every second holds its target to within one request.

This module has no Locust import; it is used by the load generator and by tests.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from loadgen.profiles import Profile, ProfileError

__all__ = ["ARRIVAL_MODES", "ArrivalSchedule", "target_count", "target_counts"]

ARRIVAL_MODES: tuple[str, ...] = ("poisson", "even")

# Slots per second used to follow the rate inside a second; 50 slots (20 ms) follow a sine or
# a replayed interval boundary closely, and the arrays stay small at any rate.
_SLOTS = 50


def _slot_rates(profile: Profile, second: int, duration: float | None) -> np.ndarray:
    """Expected arrivals in each slot of ``[second, second + 1)``."""
    dt = 1.0 / _SLOTS
    starts = second + np.arange(_SLOTS) * dt
    lam = np.clip(np.asarray(profile.rate(starts + dt / 2), dtype=float), 0.0, None) * dt
    if duration is not None:
        # Only the part of a slot before the end of the run carries arrivals.
        lam *= np.clip((duration - starts) / dt, 0.0, 1.0)
    return lam


def target_count(profile: Profile, second: int, duration: float | None = None) -> float:
    """The intended number of requests in ``[second, second + 1)`` (the mean of the rate there)."""
    return float(_slot_rates(profile, second, duration).sum())


def target_counts(profile: Profile, seconds: int, duration: float | None = None) -> np.ndarray:
    """The intended number of requests in each of the first ``seconds`` seconds (floats)."""
    return np.array([target_count(profile, k, duration) for k in range(seconds)])


@dataclass(frozen=True)
class ArrivalSchedule:
    """Send times of one run, or of one share of it.

    ``profile`` gives the rate; ``seed`` (an int >= 0) fixes the Poisson draws; ``duration``
    (seconds, or None for no end) cuts the schedule; ``share`` of ``shares`` selects the
    arrivals whose index in the whole run is congruent to ``share`` modulo ``shares``.
    """

    profile: Profile
    seed: int = 0
    arrivals: str = "poisson"
    duration: float | None = None
    share: int = 0
    shares: int = 1

    def __post_init__(self) -> None:
        if self.arrivals not in ARRIVAL_MODES:
            raise ProfileError(f"arrivals must be one of {', '.join(ARRIVAL_MODES)}, got {self.arrivals!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ProfileError(f"seed must be an integer >= 0, got {self.seed!r}")
        if self.duration is not None and not (math.isfinite(self.duration) and self.duration > 0):
            raise ProfileError(f"duration must be a number of seconds > 0 or None, got {self.duration!r}")
        if not (isinstance(self.shares, int) and self.shares >= 1 and 0 <= self.share < self.shares):
            raise ProfileError(f"share must satisfy 0 <= share < shares, got {self.share!r} of {self.shares!r}")

    @property
    def end(self) -> float | None:
        """Seconds after the start when the last arrival can fall, or None for no end."""
        ends = [d for d in (self.duration, self.profile.duration) if d is not None]
        return min(ends) if ends else None

    def seconds(self) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(second, offsets)`` for every second of the run, from 0.

        ``offsets`` are this share's send times in seconds since the start, sorted, all in
        ``[second, second + 1)``. The iterator ends with the run (never, when it has no end).
        """
        end = self.end
        last = math.ceil(end) if end is not None else None
        dt = 1.0 / _SLOTS
        slot_starts = np.arange(_SLOTS) * dt
        issued = 0  # arrivals of the whole run before this second: the base of the share index
        level = -0.5  # expected arrivals so far, minus ½, for even spacing
        k = 0
        while last is None or k < last:
            lam = _slot_rates(self.profile, k, end)
            if self.arrivals == "poisson":
                # One generator per second, keyed by (seed, second): a second's draws do not
                # depend on how the earlier seconds were consumed.
                rng = np.random.default_rng([self.seed, k])
                counts = rng.poisson(lam)
                offsets = np.repeat(k + slot_starts, counts) + rng.random(int(counts.sum())) * dt
                offsets.sort()
            else:
                # Slot boundaries on the cumulative count, shifted by ½ so that arrivals fall
                # where it crosses an integer. Each boundary is computed once and carried to
                # the next second, so the counts telescope: no arrival is lost or doubled by
                # rounding.
                bounds = level + np.concatenate(([0.0], np.cumsum(lam)))
                begins, ends = bounds[:-1], bounds[1:]
                counts = (np.floor(ends) - np.floor(begins)).astype(np.int64)
                total = int(counts.sum())
                first = np.repeat(np.floor(begins) + 1.0, counts)
                within = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
                crossing = first + within
                slot = np.repeat(np.arange(_SLOTS), counts)
                offsets = k + slot_starts[slot] + (crossing - begins[slot]) / lam[slot] * dt
                level = float(bounds[-1])
            if self.shares > 1:
                index = issued + np.arange(len(offsets))
                mine = offsets[index % self.shares == self.share]
            else:
                mine = offsets
            issued += len(offsets)
            yield k, mine
            k += 1

    def counts(self, seconds: int) -> np.ndarray:
        """This share's number of arrivals in each of the first ``seconds`` seconds."""
        out = np.zeros(seconds, dtype=np.int64)
        for k, offsets in self.seconds():
            if k >= seconds:
                break
            out[k] = len(offsets)
        return out

    def times(self, t0: float = 0.0) -> Iterator[float]:
        """This share's send times, ``t0`` plus the offsets, one by one and in order."""
        for _, offsets in self.seconds():
            for offset in offsets.tolist():
                yield t0 + offset
