"""The vector simulator's model: N simulated functions stepped together as numpy arrays.

It follows the scalar :class:`~faastrain_async.backends.sim.model.SimModel` step for step — a
scaling, the settle barrier, a window of ``interval`` seconds after it — with the same settings
and the same equations (:mod:`~faastrain_async.backends.sim.equations`), on arrays instead of
events: one step of the whole batch is a fixed number of array operations, with no Python loop
over environments. Where the two differ, it is in how random numbers are drawn:

- A rejecting function's window arrivals are one Poisson draw of the window's intended count
  (the scalar simulator draws each ``tick`` cell), spread over the cells by their intended
  rates; the loss of each cell is the same table's. A queueing function draws every cell.
- The draws come from three generators for the whole batch (arrivals, replica timings, noise),
  not three per environment: an environment's draws depend on the batch it is in. A rejecting
  function draws the same number of arrivals every step, so two policies on the same seeds
  face the same arrival draws (as far as their windows fall at the same times).
- Within a cell in which a replica became ready, the ready count is its time average.

So the two agree in distribution, not bit for bit (tests/test_vector_env.py checks it).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np

from faastrain_async.backends.sim import equations
from faastrain_async.backends.sim.equations import Tables, lognormal_params
from faastrain_async.backends.sim.rates import EnvRates, Rates, SharedRates
from faastrain_async.config import SimSettings
from loadgen.batch import BatchProfiles
from loadgen.profiles import Profile

#: Environments computed at once; bigger batches go in blocks of this many (bounds the memory
#: of a step's temporary arrays, which hold one value per environment and cell).
BLOCK = 1024


class BatchWindow(NamedTuple):
    """What one step measured, one entry per environment."""

    t_action: np.ndarray
    t_settled: np.ndarray
    settled: np.ndarray
    ready: np.ndarray  # ready replicas at the window's end
    pending: np.ndarray  # replicas not yet ready at the window's end
    # Replicas this step removed that are still being deleted at the window's end (those of
    # earlier steps are gone by then unless the interval is below half the grace period).
    terminating: np.ndarray
    replicas: np.ndarray  # time-weighted mean of ready replicas over the window
    requests: np.ndarray
    successes: np.ndarray
    mean_exec: np.ndarray  # NaN where nothing was served
    p95_exec: np.ndarray  # NaN where nothing was served
    cpu: np.ndarray
    mem: np.ndarray
    intended_rps: np.ndarray
    achieved_rps: np.ndarray


@dataclass
class BatchState:
    """The replicas of every world of a batch, one entry (or row) per environment."""

    t: np.ndarray  # each world's clock (seconds since it began)
    ready: np.ndarray
    active: np.ndarray  # pending + ready: the target
    pending: np.ndarray  # (n, max replicas): ready times of pending replicas, in the first slots
    n_pending: np.ndarray
    term_until: np.ndarray  # when the last terminating replica is deleted
    queue: np.ndarray  # the fluid queue (overload="queue")

    @classmethod
    def empty(cls, n: int, max_replicas: int) -> BatchState:
        ints = np.zeros(n, dtype=np.int64)
        return cls(np.zeros(n), ints, ints.copy(), np.full((n, max_replicas), np.inf), ints.copy(), np.zeros(n), np.zeros(n))

    def take(self, rows: slice | np.ndarray) -> BatchState:
        """The entries ``rows`` (a view for a slice, a copy for an index array)."""
        return BatchState(*(getattr(self, f.name)[rows] for f in fields(self)))

    def put(self, rows: np.ndarray, part: BatchState) -> None:
        """Write back entries taken with an index array."""
        for f in fields(self):
            getattr(self, f.name)[rows] = getattr(part, f.name)

    def restart(self, which: np.ndarray | slice, replicas: int) -> None:
        """Start the worlds ``which`` from scratch: ``replicas`` warm replicas at time 0."""
        self.t[which] = 0.0
        self.ready[which] = replicas
        self.active[which] = replicas
        self.pending[which] = np.inf
        self.n_pending[which] = 0
        self.term_until[which] = 0.0
        self.queue[which] = 0.0


class BatchModel:
    """How the worlds of a :class:`BatchState` move through one step (settings, tables, draws)."""

    def __init__(
        self, settings: SimSettings, profile: Profile | BatchProfiles, *, max_replicas: int, interval: float, settle_timeout: float
    ) -> None:
        s = settings
        self.settings = settings
        self.profile = profile
        self.max_replicas = max_replicas
        self.interval = interval
        self.settle_timeout = settle_timeout
        self.tables = Tables(s, max_replicas + 1)
        reject = s.overload == "reject"
        #: One profile for every environment, or one each (a BatchProfiles).
        self.rates: Rates = (
            EnvRates(profile, self.tables, s.tick, reject) if isinstance(profile, BatchProfiles)
            else SharedRates(profile, self.tables, s.tick, reject)
        )  # fmt: skip
        self._window_cells = int(np.ceil(interval / s.tick)) + 1  # cells a window can touch
        self._cold = lognormal_params(s.cold_start, s.cold_start_cv) if s.cold_start > 0 else None
        self._termination = lognormal_params(s.termination, s.termination_cv) if s.termination > 0 else None
        self._service_p95 = equations.lognormal_p95(s.service_time, s.service_time_cv)
        self._service_sd = s.service_time * s.service_time_cv
        self.seed(None)

    def seed(self, seeds: list[int] | None) -> None:
        """Seed the batch's random streams: arrivals, replica timings and measurement noise, kept
        apart as in the scalar simulator (one policy's scaling does not shift the arrival draws of
        the steps that follow), and the seeds of worlds that begin later (``world="new"``)."""
        arrivals, replicas, noise, worlds = np.random.SeedSequence(seeds).spawn(4)
        self.arrivals_rng = np.random.default_rng(arrivals)
        self.replica_rng = np.random.default_rng(replicas)
        self.noise_rng = np.random.default_rng(noise)
        self.world_rng = np.random.default_rng(worlds)

    # -- one step -------------------------------------------------------------------------------
    def step(self, st: BatchState, targets: np.ndarray, envs: np.ndarray | None = None) -> BatchWindow:
        """Scale every world of ``st`` to its target, wait until it settled, and measure a window
        (``st`` moves on to the window's end). ``envs``: which environments of the batch ``st``
        holds (default: all, in order)."""
        n = len(st.t)
        envs = np.arange(n) if envs is None else envs
        if n <= BLOCK:
            return self._step(st, targets, envs)
        parts = [self._step(st.take(slice(i, i + BLOCK)), targets[i : i + BLOCK], envs[i : i + BLOCK]) for i in range(0, n, BLOCK)]
        return BatchWindow(*(np.concatenate(column) for column in zip(*parts)))

    def _step(self, st: BatchState, targets: np.ndarray, envs: np.ndarray) -> BatchWindow:
        t_action = st.t.copy()
        removed = self._scale(st, targets, t_action)
        last = np.max(np.where(np.arange(st.pending.shape[1]) < st.n_pending[:, None], st.pending, -np.inf), axis=1)
        done = np.maximum(np.maximum(t_action, last), st.term_until)
        deadline = t_action + self.settle_timeout
        settled = done <= deadline
        t_settled = np.where(settled, done, deadline)
        if self.settings.overload == "queue":
            self._queue_stretch(st, t_action, t_settled, envs)
        self._fold_ready(st, t_settled)
        end = t_settled + self.interval
        columns = self._window(st, t_settled, end, envs)
        st.t[:] = end
        self._fold_ready(st, end)
        terminating = (removed > end[:, None]).sum(axis=1)
        return BatchWindow(t_action, t_settled, settled, st.ready.copy(), st.n_pending.copy(), terminating, *columns)

    def _scale(self, st: BatchState, targets: np.ndarray, now: np.ndarray) -> np.ndarray:
        """Create or remove replicas so that ``targets`` are pending or ready (as a ReplicaSet);
        the deletion times of the ready replicas removed, one row per environment (-inf pads)."""
        s = self.settings
        up = np.maximum(targets - st.active, 0)
        down = np.maximum(st.active - targets, 0)
        slots = np.arange(st.pending.shape[1])
        removed = np.full((len(targets), 1), -np.inf)
        if up.any():
            width = int(up.max())
            rows, k = np.nonzero(np.arange(width) < up[:, None])
            st.pending[rows, st.n_pending[rows] + k] = now[rows] + self._lognormal(self._cold, rows.size)
            st.n_pending += up
        if down.any():
            # Pending replicas go first (the newest), then ready ones, which drain.
            from_pending = np.minimum(down, st.n_pending)
            st.pending[(slots >= (st.n_pending - from_pending)[:, None]) & (slots < st.n_pending[:, None])] = np.inf
            st.n_pending -= from_pending
            from_ready = down - from_pending
            st.ready -= from_ready
            rows = np.nonzero(from_ready)[0]
            if rows.size:
                width = int(from_ready.max())
                draws = np.zeros((rows.size, width))
                mask = np.arange(width) < from_ready[rows, None]
                draws[mask] = np.minimum(s.grace_period, self._lognormal(self._termination, int(mask.sum())))
                st.term_until[rows] = np.maximum(st.term_until[rows], now[rows] + draws.max(axis=1))
                removed = np.full((len(targets), width), -np.inf)
                removed[rows] = np.where(mask, now[rows, None] + draws, -np.inf)
        st.active[:] = targets
        return removed

    def _lognormal(self, params: tuple[float, float, float] | None, size: int) -> np.ndarray:
        if params is None:
            return np.zeros(size)
        mu, sigma, mean = params
        return np.exp(mu + sigma * self.replica_rng.standard_normal(size)) if sigma > 0 else np.full(size, mean)

    @staticmethod
    def _fold_ready(st: BatchState, now: np.ndarray) -> None:
        """Pending replicas ready by ``now`` become ready; the pending slots stay first."""
        if not st.n_pending.any():
            return
        became = st.pending <= now[:, None]
        count = became.sum(axis=1)
        st.ready += count
        if np.array_equal(count, st.n_pending):  # every pending replica is ready (settled): no sort
            st.pending[st.n_pending > 0] = np.inf
            st.n_pending[:] = 0
            return
        st.pending[became] = np.inf
        st.pending.sort(axis=1)
        st.n_pending -= count

    # -- a window ------------------------------------------------------------------------------
    def _cells(self, start: np.ndarray, end: np.ndarray, envs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The cells ``[start, end]`` touches, for every env: expected arrivals of each whole
        cell, and where each cell's part inside the stretch begins and ends (shape (n, cells))."""
        tick = self.settings.tick
        first = np.floor(start / tick).astype(np.int64)
        width = max(self._window_cells, int(np.max((end - start) / tick)) + 2)
        cells = (first[:, None] + np.arange(width)) * tick
        low = np.maximum(start[:, None], cells)
        high = np.maximum(np.minimum(end[:, None], cells + tick), low)
        return self.rates.cells(first, width, envs), low, high, (high - low) / tick

    @staticmethod
    def _ready_seconds(st: BatchState, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        """Ready-replica seconds over ``[low, high]`` (shape (n,) or (n, cells))."""
        extra = (1,) * (low.ndim - 1)
        base = st.ready.reshape((-1,) + extra) * (high - low)
        if not st.n_pending.any():
            return base
        at = st.pending.reshape(st.pending.shape[:1] + extra + (-1,))
        late = np.maximum(high[..., None] - np.maximum(low[..., None], at), 0.0)
        return base + np.where(np.isfinite(at), late, 0.0).sum(axis=-1)

    def _window(self, st: BatchState, start: np.ndarray, end: np.ndarray, envs: np.ndarray) -> tuple[np.ndarray, ...]:
        s = self.settings
        span = self.interval
        ready_s = self._ready_seconds(st, start, end)
        if s.overload == "reject":
            served, dropped, wait, peak, intended, arrived = self._reject_window(st, start, end, envs)
        else:
            served, dropped, wait, peak, intended, arrived = self._queue_stretch(st, start, end, envs)
        ready = ready_s / span
        cap = equations.capacity(s, ready, np)
        some = served > 0
        safe = np.where(some, served, 1.0)
        noise = self.noise_rng.standard_normal(served.size)
        service = np.maximum(0.0, s.service_time + self._service_sd * noise / np.sqrt(np.maximum(safe, 1.0)))
        below = equations.stationary_wait(s, served / span, intended / span, ready, cap, np)
        extra = np.minimum(np.maximum(below, wait / safe), equations.longest_wait(s, ready, cap, np))
        mean_exec = np.where(some, service + extra, np.nan)
        late = np.where(cap > 0, peak / np.maximum(cap, 1e-300), s.request_timeout)
        p95 = np.where(some, self._service_p95 + equations.WAIT_P95 * below + late, np.nan)
        busy = np.where(some, served * (service + np.minimum(below, extra)), 0.0)
        held = ready_s > 0
        cpu, mem = equations.utilisation(s, served, np.where(held, ready_s, 1.0), busy)
        cpu, mem = np.where(held, cpu, 0.0), np.where(held, mem, 0.0)
        return ready, served + dropped, served, mean_exec, p95, cpu, mem, intended / span, arrived / span

    def _reject_window(self, st: BatchState, start: np.ndarray, end: np.ndarray, envs: np.ndarray) -> tuple[np.ndarray, ...]:
        """A rejecting function over ``[start, end]``: each cell loses its table share of its
        arrivals (at the ready count the window starts with)."""
        intended, lost = self.rates.totals(st.ready, start, end, envs)
        arrived = self.arrivals_rng.poisson(intended).astype(float)
        dropped = arrived * np.where(intended > 0, lost / np.maximum(intended, 1e-300), 0.0)
        zero = np.zeros_like(intended)
        return arrived - dropped, dropped, zero, zero, intended, arrived

    def _queue_stretch(self, st: BatchState, start: np.ndarray, end: np.ndarray, envs: np.ndarray) -> tuple[np.ndarray, ...]:
        """A queueing function's fluid queue over ``[start, end]``, cell by cell."""
        s = self.settings
        expected, low, high, share = self._cells(start, end, envs)
        arrivals = self.arrivals_rng.poisson(expected) * share
        cap = equations.capacity(s, self._ready_seconds(st, low, high) / np.maximum(high - low, 1e-300), np)
        served_cap = cap * (high - low)
        limit = np.where(high > low, cap * s.request_timeout, np.inf)  # cells past the stretch hold the queue as it is
        q = st.queue.copy()
        dropped = np.zeros_like(q)
        wait = np.zeros_like(q)
        peak = np.zeros_like(q)
        for j in range(share.shape[1]):
            q0 = q
            q = np.maximum(q + arrivals[:, j] - served_cap[:, j], 0.0)
            over = np.maximum(q - limit[:, j], 0.0)
            dropped += over
            q = q - over
            wait += (q0 + q) * 0.5 * (high[:, j] - low[:, j])
            peak = np.maximum(peak, q)
        arrived = arrivals.sum(axis=1)
        served = arrived - dropped - (q - st.queue)
        st.queue[:] = q
        intended = (expected * share).sum(axis=1)
        return served, dropped, wait, peak, intended, arrived
