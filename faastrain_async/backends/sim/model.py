"""The simulated function: replicas with cold starts and drains, and the requests they serve.

Time is cut into ``tick``-second cells. Each cell's arrivals are one Poisson draw around the
profile's rate at the cell's middle, spread evenly over the cell. The requests are integrated
lazily, segment by segment, only when a window is read: segments end at cell borders, at
every change of the ready-replica count and at the window's borders, so within a segment
the arrival rate and the capacity are constant. A rejecting function loses requests as an
Erlang loss system, cell by cell; a queueing one runs a fluid queue. The equations are in
:mod:`~faastrain_async.backends.sim.equations`, shared with the vector simulator; see
docs/simulator.md for the model.

Three random streams come from the seed: arrivals, replica timings and measurement noise,
so a policy's different scaling decisions do not change the arrivals it faces.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np

from faastrain_async.backends.sim import equations
from faastrain_async.backends.sim.equations import FLOATS, Tables, lognormal_params
from faastrain_async.clock import Clock
from faastrain_async.config import SimSettings
from faastrain_async.errors import MetricsUnavailable
from faastrain_async.events import PENDING, READY, TERMINATING, PodEvent, PodPhase, PodSnapshot, ReplicaEvent, WindowMetrics
from loadgen.profiles import Profile

#: Cells of arrivals drawn at once (the draws are vectorised; the sequence does not depend on it).
_BLOCK = 1024
#: Fewest cores a function is given on a shared node: a share of nothing still leaves the
#: formulas defined (such a function serves nothing; its share only ever reaches 0 when it
#: has no replica and no request).
MIN_CORES = 1e-9


class _Normals:
    """Standard normal draws from a generator, fetched in blocks (a draw costs nanoseconds)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._block: list[float] = []

    def __call__(self) -> float:
        if not self._block:
            self._block = self._rng.standard_normal(_BLOCK).tolist()
            self._block.reverse()
        return self._block.pop()

    def lognormal(self, params: tuple[float, float, float]) -> float:
        mu, sigma, mean = params
        return math.exp(mu + sigma * self()) if sigma > 0 else mean


class SimModel:
    """One function's replicas and traffic on a clock (virtual, or real and sped up)."""

    def __init__(self, settings: SimSettings, profile: Profile, clock: Clock, function: str = "fn") -> None:
        self.settings = settings
        self.profile = profile
        self.clock = clock
        self.function = function
        self.sink: Callable[[ReplicaEvent], None] | None = None
        s = settings
        self._tick = s.tick
        self._reject = s.overload == "reject"
        self._cold = lognormal_params(s.cold_start, s.cold_start_cv) if s.cold_start > 0 else None
        self._termination = lognormal_params(s.termination, s.termination_cv) if s.termination > 0 else None
        self._service_p95 = equations.lognormal_p95(s.service_time, s.service_time_cv)
        self._service_sd = s.service_time * s.service_time_cv
        self._tables = Tables(s)
        self._take_tables()
        self._world = False
        self._generation = 0

    # -- world ------------------------------------------------------------------------------
    def new_world(self, seed: int | None, replicas: int) -> None:
        """Start from scratch at the clock's current time: ``replicas`` warm, ready replicas."""
        self._generation += 1  # callbacks scheduled by an earlier world are ignored
        streams = np.random.SeedSequence(seed).spawn(3)
        self._arrival_rng = np.random.default_rng(streams[0])
        self._replica_normal = _Normals(np.random.default_rng(streams[1]))
        self._noise_normal = _Normals(np.random.default_rng(streams[2]))
        self._t0 = self.clock.now()
        self._t = 0.0  # integrated up to (seconds since t0)
        self._queue = 0.0
        # Arrived, dropped, queue integral, ready-seconds, intended arrivals, peak queue.
        self._cum = [0.0] * 6
        self._last_window: tuple[float, float, tuple[float, ...]] | None = None
        self._cells: list[int] = []  # arrivals per cell, from cell index self._base on
        self._expected: list[float] = []  # the profile's expected arrivals per cell
        self._base = 0
        self._names = itertools.count()
        if replicas >= self._tables.size:
            self._tables.grow(2 * replicas)
            self._take_tables()
        self.pods: dict[str, PodPhase] = {}
        for _ in range(replicas):
            self.pods[self._new_name()] = READY
        self._ready = replicas  # ready count in effect at self._t
        self._ready_now = replicas  # ready count at the clock's time
        self._active = replicas  # pods pending or ready (not terminating)
        self._changes: list[tuple[float, int]] = []  # (time, ready count from then on), after self._t
        self._world = True
        self.send_snapshot()

    def _take_tables(self) -> None:
        """The per-ready-count tables as lists (a list index costs less than an array's)."""
        t = self._tables
        self._capacity: list[float] = t.capacity.tolist()
        self._limit: list[float] = t.limit.tolist()
        # Only a rejecting function reads the loss tables; an empty row is computed when needed.
        if not self._reject:
            self._loss: list[list[float]] = []
        elif t.eager_loss:
            self._loss = t.loss.tolist()
        else:
            self._loss = [[] for _ in range(t.size)]
        self._rate_step: list[float] = t.rate_step.tolist()

    def send_snapshot(self) -> None:
        """Tell the sink about every replica at once (a watcher starts from this)."""
        if self.sink is not None and self._world:
            self.sink(PodSnapshot(dict(self.pods), self.clock.now()))

    @property
    def started(self) -> bool:
        return self._world

    @property
    def ready(self) -> int:
        """Replicas ready at the clock's time."""
        return self._ready_now

    def _new_name(self) -> str:
        return f"{self.function}-{next(self._names):05d}"

    def _emit(self, pod: str, phase: PodPhase | None, now: float) -> None:
        if self.sink is not None:
            self.sink(PodEvent(pod, phase, now))

    def _ready_changed(self, by: int, now: float) -> None:
        self._ready_now += by
        self._changes.append((now - self._t0, self._ready_now))

    # -- scaling ----------------------------------------------------------------------------
    def set_replicas(self, n: int) -> None:
        """Create or terminate replicas so that ``n`` are pending or ready."""
        active = self._active
        if n == active:
            return
        self._active = n
        if n >= self._tables.size:
            self._tables.grow(2 * n)
            self._take_tables()
        now = self.clock.now()
        pods, call_at, generation, draw = self.pods, self.clock.call_at, self._generation, self._replica_normal.lognormal
        if n > active:
            cold = self._cold
            for _ in range(n - active):
                pod = self._new_name()
                pods[pod] = PENDING
                self._emit(pod, PENDING, now)
                call_at(now if cold is None else now + draw(cold), self._become_ready, pod, generation)
            return
        # Like a ReplicaSet: remove pods that are not ready first, then the newest (names grow).
        pending = [pod for pod, phase in pods.items() if phase is PENDING]
        ready = [pod for pod, phase in pods.items() if phase is READY]
        grace, termination = self.settings.grace_period, self._termination
        for pod in (pending[::-1] + ready[::-1])[: active - n]:
            was_ready = pods[pod] is READY
            pods[pod] = TERMINATING
            self._emit(pod, TERMINATING, now)
            if was_ready:  # a ready replica drains its in-flight requests, within the grace period
                self._ready_changed(-1, now)
                delay = 0.0 if termination is None else min(grace, draw(termination))
                call_at(now + delay, self._delete, pod, generation)
            else:  # a pending one has nothing to drain
                call_at(now, self._delete, pod, generation)

    # Callbacks scheduled by an earlier world (a different generation) are ignored.
    def _become_ready(self, pod: str, generation: int) -> None:
        if generation == self._generation and self.pods.get(pod) is PENDING:
            now = self.clock.now()
            self.pods[pod] = READY
            self._ready_changed(1, now)
            self._emit(pod, READY, now)

    def _delete(self, pod: str, generation: int) -> None:
        if generation == self._generation and pod in self.pods:
            del self.pods[pod]
            self._emit(pod, None, self.clock.now())

    # -- traffic ----------------------------------------------------------------------------
    def _draw_cells(self, upto: int) -> None:
        """Draw arrivals for cells up to index ``upto`` (in blocks, always in cell order)."""
        tick = self._tick
        while self._base + len(self._cells) <= upto:
            first = self._base + len(self._cells)
            mids = (np.arange(first, first + _BLOCK) + 0.5) * tick
            expected: np.ndarray = np.maximum(np.asarray(self.profile.rate(mids), dtype=float), 0.0) * tick
            self._cells += self._arrival_rng.poisson(expected).tolist()
            self._expected += expected.tolist()

    def _integrate(self, until: float, measured: bool = True) -> None:
        """Run the requests from ``self._t`` to ``until`` (seconds since t0).

        Outside a measured window a rejecting function's losses are not needed (it carries no
        queue from one stretch to the next), so ``measured=False`` skips them.
        """
        t = self._t
        if until <= t:
            return
        tick = self._tick
        self._draw_cells(int(until / tick))
        cells, expected, changes, base = self._cells, self._expected, self._changes, self._base
        capacities, limits, reject = self._capacity, self._limit, self._reject
        lossy = reject and measured
        arrived, dropped, wait, ready_s, intended, peak = self._cum
        ready, q = self._ready, self._queue
        ci, n_changes, inf = 0, len(changes), math.inf
        next_change = changes[0][0] if n_changes else inf
        while t < until:
            while next_change <= t:
                ready = changes[ci][1]
                ci += 1
                next_change = changes[ci][0] if ci < n_changes else inf
            capacity = capacities[ready]
            end = next_change if next_change < until else until
            k = int(t / tick)
            k_end = int(end / tick)
            if t == k * tick and k_end > k:
                # Whole cells with a constant capacity.
                i, j = k - base, k_end - base
                run = cells[i:j]
                total = sum(run)
                arrived += total
                intended += sum(expected[i:j])
                ready_s += ready * (j - i) * tick
                if lossy:
                    dropped += self._lost(ready, run, expected[i:j])
                elif not reject:
                    q, d, w, peak = self._queue_cells(q, run, capacity * tick, limits[ready], peak)
                    dropped += d
                    wait += w * tick
                t = k_end * tick
                continue
            # A part of one cell: up to the cell's end, the next change, or ``until``.
            b = (k + 1) * tick
            if end < b:
                b = end
            h = b - t
            share = h / tick
            i = k - base
            a = cells[i] * share
            arrived += a
            intended += expected[i] * share
            ready_s += ready * h
            if lossy:
                dropped += self._lost(ready, (a,), (expected[i],))
            elif not reject:
                q0 = q
                q += a - capacity * h
                if q < 0.0:
                    q = 0.0
                elif q > limits[ready]:
                    dropped += q - limits[ready]
                    q = limits[ready]
                wait += (q0 + q) * 0.5 * h
                if q > peak:
                    peak = q
            t = b
        while next_change <= t:
            ready = changes[ci][1]
            ci += 1
            next_change = changes[ci][0] if ci < n_changes else inf
        if ci:
            del changes[:ci]
        # Forget cells already integrated, so a long-running world keeps its memory bounded.
        done = int(t / tick) - base
        if done > 4 * _BLOCK:
            del cells[:done], expected[:done]
            self._base += done
        self._t, self._ready, self._queue = t, ready, q
        self._cum = [arrived, dropped, wait, ready_s, intended, peak]

    def _lost(self, ready: int, arrivals: Sequence[float], expected: Sequence[float]) -> float:
        """Requests a rejecting function refuses: each cell's arrivals times the loss at the
        cell's intended rate (``expected`` arrivals per whole cell)."""
        loss, step = self._loss[ready], self._rate_step[ready]
        if not loss:
            loss = self._loss[ready] = self._tables.loss_row(ready).tolist()
        scale = 1.0 / (self._tick * step)  # expected arrivals per cell -> offered rate in table steps
        top = len(loss) - 1
        lost = 0.0
        last, b = -1.0, 0.0
        for n, e in zip(arrivals, expected):
            if n == 0:
                continue
            if e != last:  # piecewise-constant profiles repeat their rate cell after cell
                last = e
                x = e * scale
                j = int(x)
                if j < top:
                    b = loss[j] + (loss[j + 1] - loss[j]) * (x - j)
                else:  # past the table's reach (rare): computed
                    b = float(equations.rejected(self.settings, ready, np.asarray([x * step]))[0])
            lost += n * b
        return lost

    @staticmethod
    def _queue_cells(q: float, run: Sequence[int], per_cell: float, limit: float, peak: float) -> tuple[float, float, float, float]:
        """The fluid queue over whole cells: (queue, dropped, queue integral in cells, peak).

        ``q ← clip(q + arrivals − capacity · tick, 0, limit)`` per cell; runs in which the queue
        stays empty, or stays full, are summed without stepping through them.
        """
        if q == 0.0 and max(run) <= per_cell:  # the queue stays empty
            return q, 0.0, 0.0, peak
        n = len(run)
        if q >= limit and min(run) >= per_cell:  # the queue stays full
            return limit, sum(run) - per_cell * n + (q - limit), limit * n, max(peak, limit)
        # The trapezoid rule over the cells: (q_0/2 + q_1 + ... + q_{n-1} + q_n/2)·tick.
        dropped = 0.0
        area = 0.5 * q
        for arrivals in run:
            q += arrivals - per_cell
            if q < 0.0:
                q = 0.0
            elif q > limit:  # a request that would wait longer than the timeout fails
                dropped += q - limit
                q = limit
            area += q
            if q > peak:
                peak = q
        return q, dropped, area - 0.5 * q, peak

    def _deltas(self, start: float, end: float) -> tuple[float, ...]:
        """What accumulated over ``[start, end]``: (arrived, served, dropped, queue integral,
        ready-seconds, intended arrivals, peak queue); computed once, for window() and load()."""
        last = self._last_window
        if last is not None and last[0] == start and last[1] == end:
            return last[2]
        a, b = start - self._t0, end - self._t0
        if a < self._t:
            raise MetricsUnavailable(
                f"simulated window [{start}, {end}] starts before the time already integrated "
                f"({self._t + self._t0}); windows must be read in order"
            )
        self._integrate(a, measured=False)
        self._cum[-1] = 0.0  # the peak queue counts from the window's start
        arrived0, dropped0, wait0, ready_s0, intended0, _ = self._cum
        queue0 = self._queue
        self._integrate(b)
        arrived, dropped, wait, ready_s, intended, peak = self._cum
        # Served = arrived − dropped − the growth of the queue.
        served = arrived - arrived0 - (dropped - dropped0) - (self._queue - queue0)
        deltas = (arrived - arrived0, served, dropped - dropped0, wait - wait0, ready_s - ready_s0, intended - intended0, peak)
        self._last_window = (start, end, deltas)
        return deltas

    def window(self, start: float, end: float) -> WindowMetrics:
        """Metrics over ``[start, end]`` (clock time)."""
        _, served, dropped, wait, ready_s, intended, peak = self._deltas(start, end)
        s = self.settings
        mean_exec: float | None = None
        p95: float | None = None
        cpu = mem = 0.0
        if ready_s > 0:
            span = end - start
            ready = ready_s / span
            cap = equations.capacity(s, ready, FLOATS)
            busy = 0.0
            if served > 0:
                # The window's mean service time is a sample mean of ``served`` lognormal draws.
                noise = self._noise_normal()
                service = max(0.0, s.service_time + self._service_sd * noise / math.sqrt(max(served, 1.0)))
                # Waiting below capacity (stationary) or behind the overload's queue (fluid),
                # whichever is longer: near capacity both describe the same wait.
                below = equations.stationary_wait(s, served / span, intended / span, ready, cap, FLOATS)
                extra = min(max(below, wait / served), equations.longest_wait(s, ready, cap, FLOATS))
                mean_exec = service + extra
                # The slowest requests are those that waited behind the window's longest queue.
                p95 = self._service_p95 + equations.WAIT_P95 * below + (peak / cap if cap > 0 else s.request_timeout)
                busy = served * (service + min(below, extra))
            cpu, mem = equations.utilisation(s, served, ready_s, busy)
        # Positional, in field order: start, end, requests, successes, mean and p95 exec, cpu, memory.
        return WindowMetrics(start, end, served + dropped, served, mean_exec, p95, cpu, mem)

    # -- a shared node -------------------------------------------------------------------------
    def arrivals(self, start: float, end: float) -> float:
        """Requests that arrive in ``[start, end]`` (clock time), drawn ahead if need be.

        ``start`` must not lie before the time already integrated (windows go in order).
        """
        tick = self._tick
        a, b = (start - self._t0) / tick, (end - self._t0) / tick
        self._draw_cells(int(b))
        cells, base = self._cells, self._base
        first, last = int(a), int(b)
        if first == last:
            return cells[first - base] * (b - a)
        # The first and last cells count by their overlap (the last one is drawn: see above).
        partial = cells[first - base] * (first + 1 - a) + cells[last - base] * (b - last)
        return float(partial + sum(cells[first + 1 - base : last - base]))

    def set_cores(self, cores: float, at: float) -> None:
        """From clock time ``at`` on, the function has ``cores`` of the node to itself.

        What happened before ``at`` is integrated first, with the cores it had then.
        """
        self._integrate(at - self._t0, measured=False)
        s = self.settings.with_cores(max(cores, MIN_CORES))
        self.settings = s
        self._tables = Tables(s, self._tables.size, eager_loss=False)
        self._take_tables()
        self._last_window = None

    def load(self, start: float, end: float) -> tuple[float, float]:
        """Intended and achieved arrival rate over ``[start, end]`` (req/s)."""
        arrived, _, _, _, _, intended, _ = self._deltas(start, end)
        span = max(end - start, 1e-9)
        return intended / span, arrived / span
