"""Expected arrivals per ``tick`` cell for the vector simulator, and a window's totals.

:class:`SharedRates` serves a batch whose environments all follow one profile: a cell's
expected arrivals (and a rejecting function's expected losses in it, per ready count) are
computed once for all of them, with running sums, so a window's totals cost a few lookups per
environment. :class:`EnvRates` serves a batch in which every environment has a profile of its
own (a ranged spec or ``mix:``, drawn per world): it evaluates each environment's cells through
:class:`loadgen.batch.BatchProfiles`. Both answer the same two questions, for the environments
``envs`` of the batch: the expected arrivals of given cells, and a stretch's intended arrivals
and the part of them a rejecting function loses.
"""

from __future__ import annotations

import numpy as np

from faastrain_async.backends.sim.equations import Tables
from loadgen.batch import BatchProfiles
from loadgen.profiles import Profile


def _shares(first: np.ndarray, width: int, start: np.ndarray, end: np.ndarray, tick: float) -> np.ndarray:
    """The share of each of the cells ``first .. first + width - 1`` inside ``[start, end]``."""
    cells = (first[:, None] + np.arange(width)) * tick
    low = np.maximum(start[:, None], cells)
    high = np.minimum(end[:, None], cells + tick)
    return np.maximum(high - low, 0.0) / tick


class SharedRates:
    """One profile for the whole batch; see the module docstring."""

    def __init__(self, profile: Profile, tables: Tables, tick: float, reject: bool) -> None:
        self.profile = profile
        self.tables = tables
        self.tick = tick
        self.reject = reject
        self.low = 0
        self.high = 0  # the cells [low, high) are computed

    def cover(self, first: int, last: int, ahead: int) -> None:
        """Make the cells ``first .. last`` available (and ``ahead`` more past them)."""
        if self.low <= first and last < self.high:
            return
        self.low, self.high = first, last + 1 + ahead
        tick = self.tick
        cells = np.arange(self.low, self.high, dtype=float)
        self.expected = np.maximum(np.asarray(self.profile.rate((cells + 0.5) * tick), dtype=float), 0.0) * tick
        self.running = np.concatenate(([0.0], np.cumsum(self.expected)))
        if self.reject:
            ready = np.arange(self.tables.size)[:, None]
            self.lost = self.expected[None, :] * self.tables.loss_at(ready, self.expected[None, :] / tick)
            zeros = np.zeros((self.lost.shape[0], 1))
            self.lost_running = np.concatenate((zeros, np.cumsum(self.lost, axis=1)), axis=1)

    def totals(self, ready: np.ndarray, start: np.ndarray, end: np.ndarray, envs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Intended arrivals over ``[start, end]``, and those a rejecting function loses."""
        tick = self.tick
        first = np.floor(start / tick).astype(np.int64)
        last = np.floor(end / tick).astype(np.int64)
        self.cover(int(first.min()), int(last.max()), ahead=max(1024, 8 * int(np.max(last - first) + 1)))
        i, k = first - self.low, last - self.low
        head = ((first + 1) * tick - start) / tick  # share of the first cell inside
        tail = (end - last * tick) / tick  # share of the last cell inside
        one = i == k
        inner = np.minimum(i + 1, k)
        intended = self._sum(self.expected[i], self.expected[k], self.running[k] - self.running[inner], head, tail, one)
        if not self.reject:
            return intended, 0.0 * intended
        lost, running = self.lost, self.lost_running
        return intended, self._sum(lost[ready, i], lost[ready, k], running[ready, k] - running[ready, inner], head, tail, one)

    @staticmethod
    def _sum(first: np.ndarray, last: np.ndarray, whole: np.ndarray, head: np.ndarray, tail: np.ndarray, one: np.ndarray) -> np.ndarray:
        """A stretch's share-weighted sum: part of its first cell, the whole cells between, part
        of its last (or the one cell's share when it starts and ends in it)."""
        return np.where(one, first * (head + tail - 1.0), first * head + whole + last * tail)

    def cells(self, first: np.ndarray, width: int, envs: np.ndarray) -> np.ndarray:
        """Expected arrivals of the cells ``first[e] .. first[e] + width - 1`` of every env ``e``."""
        self.cover(int(first.min()), int(first.max()) + width - 1, ahead=max(1024, 8 * width))
        return self.expected[(first - self.low)[:, None] + np.arange(width)]


class EnvRates:
    """A profile per environment; see the module docstring."""

    def __init__(self, profiles: BatchProfiles, tables: Tables, tick: float, reject: bool) -> None:
        self.profiles = profiles
        self.tables = tables
        self.tick = tick
        self.reject = reject

    def cells(self, first: np.ndarray, width: int, envs: np.ndarray) -> np.ndarray:
        times = (first[:, None] + np.arange(width) + 0.5) * self.tick
        return np.maximum(self.profiles.rate(times, envs), 0.0) * self.tick

    def totals(self, ready: np.ndarray, start: np.ndarray, end: np.ndarray, envs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tick = self.tick
        first = np.floor(start / tick).astype(np.int64)
        width = int(np.max(np.floor(end / tick) - first)) + 1
        expected = self.cells(first, width, envs)
        weights = expected * _shares(first, width, start, end, tick)
        intended = weights.sum(axis=1)
        if not self.reject:
            return intended, 0.0 * intended
        return intended, (weights * self.tables.loss_at(ready[:, None], expected / tick)).sum(axis=1)


Rates = SharedRates | EnvRates
