"""The simulated function: replicas with cold starts and drains, and a fluid request queue.

Time is cut into ``tick``-second cells. Each cell's arrivals are one Poisson draw around the
profile's rate at the cell's middle, spread evenly over the cell. The queue is integrated
lazily, segment by segment, only when a window is read: segments end at cell borders, at
every change of the ready-replica count and at the window's borders, so within a segment
the arrival rate and the capacity are constant. See docs/simulator.md for the model.

Three random streams come from the seed: arrivals, replica timings and measurement noise,
so a policy's different scaling decisions do not change the arrivals it faces.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np

from faastrain_async.clock import Clock
from faastrain_async.config import SimSettings
from faastrain_async.errors import MetricsUnavailable
from faastrain_async.events import PodEvent, PodPhase, PodSnapshot, ReplicaEvent, WindowMetrics
from loadgen.profiles import Profile

#: Cells of arrivals drawn at once (the draws are vectorised; the sequence does not depend on it).
_BLOCK = 1024
_Z95 = 1.6448536269514722

# Indices into the cumulative counters.
_ARRIVED, _SERVED, _DROPPED, _WAIT, _READY_S, _INTENDED, _PEAK_Q = range(7)


def _lognormal_params(mean: float, cv: float) -> tuple[float, float, float]:
    """(mu, sigma, mean) of the lognormal with this mean and coefficient of variation."""
    sigma = math.sqrt(math.log1p(cv * cv))
    return math.log(mean) - sigma * sigma / 2.0, sigma, mean


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
        self._rate_per_replica = s.concurrency / s.service_time
        self._cold = _lognormal_params(s.cold_start, s.cold_start_cv) if s.cold_start > 0 else None
        self._service = _lognormal_params(s.service_time, s.service_time_cv)
        self._service_p95 = math.exp(self._service[0] + _Z95 * self._service[1])
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
        self._cum = [0.0] * 7
        self._last_window: tuple[float, float, tuple[float, ...], tuple[float, ...]] | None = None
        self._cells: list[float] = []  # arrivals per cell, from cell index self._base on
        self._cell_rates: list[float] = []
        self._base = 0
        self._names = itertools.count()
        self.pods: dict[str, PodPhase] = {}
        for _ in range(replicas):
            self.pods[self._new_name()] = PodPhase.READY
        self._ready = replicas  # ready count in effect at self._t
        self._ready_now = replicas  # ready count at the clock's time
        self._active = replicas  # pods pending or ready (not terminating)
        self._changes: list[tuple[float, int]] = []  # (time, ready count from then on), after self._t
        self._world = True
        self.send_snapshot()

    def send_snapshot(self) -> None:
        """Tell the sink about every replica at once (a watcher starts from this)."""
        if self.sink is not None and self._world:
            self.sink(PodSnapshot(dict(self.pods), self.clock.now()))

    @property
    def started(self) -> bool:
        return self._world

    def _new_name(self) -> str:
        return f"{self.function}-{next(self._names):05d}"

    def _set_phase(self, pod: str, phase: PodPhase | None) -> None:
        pods = self.pods
        was_ready = pods.get(pod) is PodPhase.READY
        if phase is None:
            del pods[pod]
        else:
            pods[pod] = phase
        now = self.clock.now()
        is_ready = phase is PodPhase.READY
        if was_ready is not is_ready:
            self._ready_now += 1 if is_ready else -1
            self._changes.append((now - self._t0, self._ready_now))
        if self.sink is not None:
            self.sink(PodEvent(pod, phase, now))

    # -- scaling ----------------------------------------------------------------------------
    def set_replicas(self, n: int) -> None:
        """Create or terminate replicas so that ``n`` are pending or ready."""
        active = self._active
        if n == active:
            return
        self._active = n
        now = self.clock.now()
        call_at, generation = self.clock.call_at, self._generation
        if n > active:
            cold, draw = self._cold, self._replica_normal.lognormal
            for _ in range(n - active):
                delay = 0.0 if cold is None else draw(cold)
                pod = self._new_name()
                self._set_phase(pod, PodPhase.PENDING)
                call_at(now + delay, self._become_ready, pod, generation)
        else:
            # Like a ReplicaSet: remove pods that are not ready first, then the newest.
            names = [name for name, phase in self.pods.items() if phase is not PodPhase.TERMINATING]
            names.sort(reverse=True)
            names.sort(key=lambda name: self.pods[name] is PodPhase.READY)
            grace, draw = self.settings.grace_period, self._replica_normal.lognormal
            for pod in names[: active - n]:
                # A ready replica drains its in-flight request; a pending one has none.
                drain = draw(self._service)
                delay = min(grace, drain) if self.pods[pod] is PodPhase.READY else 0.0
                self._set_phase(pod, PodPhase.TERMINATING)
                call_at(now + delay, self._delete, pod, generation)

    # Callbacks scheduled by an earlier world (a different generation) are ignored.
    def _become_ready(self, pod: str, generation: int) -> None:
        if generation == self._generation and self.pods.get(pod) is PodPhase.PENDING:
            self._set_phase(pod, PodPhase.READY)

    def _delete(self, pod: str, generation: int) -> None:
        if generation == self._generation and pod in self.pods:
            self._set_phase(pod, None)

    # -- traffic ----------------------------------------------------------------------------
    def _draw_cells(self, upto: int) -> None:
        """Draw arrivals for cells up to index ``upto`` (in blocks, always in cell order)."""
        tick = self.settings.tick
        while self._base + len(self._cells) <= upto:
            first = self._base + len(self._cells)
            mids = (np.arange(first, first + _BLOCK) + 0.5) * tick
            rates = np.maximum(np.asarray(self.profile.rate(mids), dtype=float), 0.0)
            self._cell_rates.extend(rates.tolist())
            self._cells.extend(self._arrival_rng.poisson(rates * tick).astype(float).tolist())

    def _integrate(self, until: float) -> None:
        """Run the fluid queue from ``self._t`` to ``until`` (seconds since t0)."""
        t = self._t
        if until <= t:
            return
        s = self.settings
        tick = s.tick
        self._draw_cells(int(until / tick) + 1)
        cells, cell_rates, changes, base = self._cells, self._cell_rates, self._changes, self._base
        per_replica = self._rate_per_replica
        timeout = s.request_timeout
        arrived, served_total, dropped_total, wait, ready_s, intended, peak_q = self._cum
        ready, queue, ci, n_changes = self._ready, self._queue, 0, len(changes)
        next_change = changes[0][0] if n_changes else math.inf
        inf = math.inf
        while t < until:
            while next_change <= t:
                ready = changes[ci][1]
                ci += 1
                next_change = changes[ci][0] if ci < n_changes else inf
            capacity = ready * per_replica
            limit = capacity * timeout
            k = int(t / tick)
            k_end = int(min(next_change, until) / tick)
            if t == k * tick and k_end > k:
                # Whole cells with constant capacity, summed or stepped cell by cell.
                i, j = k - base, k_end - base
                run = cells[i:j]
                n = j - i
                total = sum(run)
                per_cell = capacity * tick
                arrived += total
                intended += sum(cell_rates[i:j]) * tick
                ready_s += ready * n * tick
                if queue == 0.0 and max(run) <= per_cell:  # the queue stays empty
                    served_total += total
                elif queue >= limit and min(run) >= per_cell:  # the queue stays full
                    served_total += per_cell * n
                    dropped_total += total - per_cell * n + (queue - limit)
                    wait += limit * n * tick
                    queue = limit
                    peak_q = max(peak_q, limit)
                else:
                    half = 0.5 * tick
                    for a in run:
                        q = queue + a - per_cell
                        if q < 0.0:
                            served_total += queue + a
                            q = 0.0
                        else:
                            served_total += per_cell
                            if q > limit:
                                dropped_total += q - limit
                                q = limit
                        wait += (queue + q) * half
                        if q > peak_q:
                            peak_q = q
                        queue = q
                t = k_end * tick
                continue
            # A part of one cell: up to the cell's end, the next change, or ``until``.
            b = min((k + 1) * tick, next_change, until)
            h = b - t
            k -= base
            a = cells[k] * h / tick
            intended += cell_rates[k] * h
            arrived += a
            ready_s += ready * h
            served = capacity * h
            q = queue + a - served
            if q < 0.0:
                served = queue + a
                q = 0.0
            elif q > limit:  # a request that would wait longer than the timeout fails
                dropped_total += q - limit
                q = limit
            served_total += served
            wait += (queue + q) * 0.5 * h
            if q > peak_q:
                peak_q = q
            queue = q
            t = b
        while next_change <= t:
            ready = changes[ci][1]
            ci += 1
            next_change = changes[ci][0] if ci < n_changes else inf
        del changes[:ci]
        # Forget cells already integrated, so a long-running world keeps its memory bounded.
        done = int(t / tick) - base
        if done > 4 * _BLOCK:
            del cells[:done], cell_rates[:done]
            self._base += done
        self._t, self._ready, self._queue = t, ready, queue
        self._cum = [arrived, served_total, dropped_total, wait, ready_s, intended, peak_q]

    def _counters(self, start: float, end: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Cumulative counters at ``start`` and ``end``; the peak queue counts from ``start``."""
        last = self._last_window
        if last is not None and last[0] == start and last[1] == end:
            return last[2], last[3]
        a, b = start - self._t0, end - self._t0
        if a < self._t:
            raise MetricsUnavailable(
                f"simulated window [{start}, {end}] starts before the time already integrated "
                f"({self._t + self._t0}); windows must be read in order"
            )
        self._integrate(a)
        self._cum[_PEAK_Q] = 0.0
        c0 = tuple(self._cum)
        self._integrate(b)
        c1 = tuple(self._cum)
        self._last_window = (start, end, c0, c1)
        return c0, c1

    def window(self, start: float, end: float) -> WindowMetrics:
        """Metrics over ``[start, end]`` (clock time)."""
        c0, c1 = self._counters(start, end)
        s = self.settings
        served = c1[_SERVED] - c0[_SERVED]
        dropped = c1[_DROPPED] - c0[_DROPPED]
        ready_s = c1[_READY_S] - c0[_READY_S]
        wait = c1[_WAIT] - c0[_WAIT]
        if served > 0:
            # The window's mean service time is a sample mean of ``served`` lognormal draws.
            noise = self._noise_normal()
            spread = s.service_time * s.service_time_cv / math.sqrt(max(served, 1.0))
            mean_exec = max(0.0, s.service_time + spread * noise) + wait / served
            # The slowest requests are those that waited behind the window's longest queue.
            capacity = self._ready * self._rate_per_replica
            p95 = self._service_p95 + (c1[_PEAK_Q] / capacity if capacity > 0 else s.request_timeout)
        else:
            mean_exec = p95 = None
        if ready_s > 0:
            cpu = (served * s.cpu_per_request + ready_s * s.idle_cpu) / (ready_s * s.cpu_request)
            inflight = served * s.service_time
            mem = (ready_s * s.mem_base_mib + inflight * s.mem_per_request_mib) / (ready_s * s.mem_request_mib)
        else:
            cpu = mem = 0.0
        return WindowMetrics(
            start=start, end=end, requests=served + dropped, successes=served,
            mean_exec_s=mean_exec, p95_exec_s=p95, cpu_util=cpu, mem_util=mem,
        )

    def load(self, start: float, end: float) -> tuple[float, float]:
        """Intended and achieved arrival rate over ``[start, end]`` (req/s)."""
        c0, c1 = self._counters(start, end)
        span = max(end - start, 1e-9)
        return (c1[_INTENDED] - c0[_INTENDED]) / span, (c1[_ARRIVED] - c0[_ARRIVED]) / span
