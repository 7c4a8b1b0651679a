"""The simulated function's equations: one statement for the scalar and the vector simulator.

Everything here is a pure function of the settings and of the replica count, arrival rate and
served requests of a stretch of time. The per-replica-count quantities (capacity, backlog limit,
loss table) are computed once, as numpy arrays indexed by the ready count; both simulators read
them. The per-window formulas take floats or numpy arrays: they use only arithmetic and the few
functions of ``xp`` (:data:`FLOATS` for floats, ``numpy`` for arrays), so one definition serves
one environment and a batch. See docs/simulator.md for the model.

The function's capacity with ``R`` ready replicas (requests per second)::

    capacity(R) = min(R · replica_rate, (cores − R · idle_cpu) / cpu_per_request)

Past it, ``overload="reject"`` refuses requests at once: the replicas' ``concurrency · R`` slots
form an Erlang loss system (M/G/c/c, whose loss depends only on the mean service time), with
``capacity(R) · service_time`` effective slots when the cores bind first. ``overload="queue"``
keeps them in a fluid queue of at most ``capacity · request_timeout`` requests (a request that
would wait longer times out) and adds the stationary waiting of an M/M/c queue below capacity.
In both modes the requests' CPU parts share the node's ``cores`` as an M/M/c station: their
latency grows with the CPU utilisation. Both waits use Sakasegawa's approximation of M/M/c.

Several functions on one node (the multi-agent simulator) each get, per window, the cores the
others leave (:func:`share_cores` of their :func:`cpu_demand`), and the formulas above run
with that share as ``cores``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from faastrain_async.config import SimSettings

#: Utilisation at which the stationary waiting formulas stop (beyond it the fluid queue, or the
#: loss system, describes the overload).
RHO_MAX = 0.98
#: Points of a loss table, and how far it reaches in offered load (multiples of the slots).
LOSS_POINTS = 1024
LOSS_REACH = 16.0
#: 95th percentile of a standard normal, and the p95 of an exponential wait in units of its mean.
Z95 = 1.6448536269514722
WAIT_P95 = math.log(20.0)


class _Floats:
    """The ``xp`` of plain floats: what numpy offers for arrays, at a float's cost."""

    minimum = staticmethod(min)
    maximum = staticmethod(max)

    @staticmethod
    def where(condition: bool, a: float, b: float) -> float:
        return a if condition else b


FLOATS: Any = _Floats


def lognormal_params(mean: float, cv: float) -> tuple[float, float, float]:
    """(mu, sigma, mean) of the lognormal with this mean and coefficient of variation."""
    sigma = math.sqrt(math.log1p(cv * cv))
    return math.log(mean) - sigma * sigma / 2.0, sigma, mean


def lognormal_p95(mean: float, cv: float) -> float:
    mu, sigma, _ = lognormal_params(mean, cv)
    return math.exp(mu + Z95 * sigma)


# -- per ready count --------------------------------------------------------------------------


def capacity(settings: SimSettings, ready: Any, xp: Any = np) -> Any:
    """Requests per second ``ready`` replicas complete at most."""
    s = settings
    slots = ready * s.per_replica_rate
    if s.cores is None:
        return slots
    cpu = xp.maximum(s.cores - ready * s.idle_cpu, 0.0) / s.cpu_per_request
    return xp.minimum(slots, cpu)


def backlog_limit(settings: SimSettings, cap: np.ndarray) -> np.ndarray:
    """Most requests the fluid queue holds: those that would not wait past the timeout.

    A rejecting function holds none: its overload is the loss system's.
    """
    if settings.overload == "reject":
        return np.zeros_like(cap)
    return cap * settings.request_timeout


def erlang_b(servers: float, load: np.ndarray) -> np.ndarray:
    """Erlang's loss probability with ``servers`` slots (fractional: interpolated) at ``load``."""
    load = np.asarray(load, dtype=float)
    low = math.floor(servers)
    b = np.ones_like(load)
    b_low = b
    for k in range(1, math.ceil(servers) + 1):
        b = load * b / (k + load * b)
        if k == low:
            b_low = b
    if low == servers:
        return b_low
    frac = servers - low
    return b_low + (b - b_low) * frac


def rejected(settings: SimSettings, ready: int, rate: np.ndarray) -> np.ndarray:
    """Fraction of the requests a rejecting function refuses at an offered ``rate`` (req/s).

    The ``ready · replica_rate · service_time`` slots are an Erlang loss system whose requests
    hold a slot for their latency, which grows with the CPU utilisation; what the slots let
    through beyond the cores' capacity is refused too.
    """
    s = settings
    rate = np.asarray(rate, dtype=float)
    latency = s.service_time + cpu_wait(s, rate, float(ready), np)
    passed = rate * (1.0 - erlang_b(ready * s.per_replica_rate * s.service_time, rate * latency))
    served = np.minimum(passed, capacity(s, float(ready)))
    return np.where(rate > 0, 1.0 - served / np.maximum(rate, 1e-300), 0.0)


class Tables:
    """The per-ready-count quantities, for ready counts ``0 .. size - 1`` (grown on demand).

    ``loss[r]`` holds :func:`rejected` on the offered rates ``0, step[r], 2 step[r], ...`` up to
    :data:`LOSS_REACH` times the capacity (``overload="reject"`` only).
    """

    def __init__(self, settings: SimSettings, size: int = 11, *, eager_loss: bool = True) -> None:
        self.settings = settings
        #: False: ``loss`` is not filled; :meth:`loss_row` computes a row when it is needed (a
        #: function on a shared node gets new tables every window and uses a few rows of them).
        self.eager_loss = eager_loss
        self.size = 0
        self.grow(size)

    def grow(self, size: int) -> None:
        """Make the tables cover ready counts up to ``size - 1``."""
        if size <= self.size:
            return
        s = self.settings
        ready = np.arange(size, dtype=float)
        self.capacity = capacity(s, ready)
        self.limit = backlog_limit(s, self.capacity)
        self.rate_step = np.maximum(self.capacity, 1e-3) * LOSS_REACH / (LOSS_POINTS - 1)
        self.loss = np.ones((size, LOSS_POINTS))
        if s.overload == "reject" and self.eager_loss:
            for r in range(1, size):
                self.loss[r] = self.loss_row(r)
        self.size = size

    def loss_row(self, ready: int) -> np.ndarray:
        """``loss[ready]``: the refused fraction at each of the row's offered rates."""
        if ready == 0:  # no replica: every request fails
            return np.ones(LOSS_POINTS)
        return rejected(self.settings, ready, np.arange(LOSS_POINTS, dtype=float) * self.rate_step[ready])

    def loss_at(self, ready: np.ndarray, rate: np.ndarray) -> np.ndarray:
        """:func:`rejected` with ``ready`` replicas at offered ``rate``, by the tables (interpolated;
        computed past their reach); ``ready`` broadcasts against ``rate``."""
        ready, rate = np.broadcast_arrays(np.asarray(ready, dtype=np.int64), np.asarray(rate, dtype=float))
        points = self.loss.shape[1]
        x = rate / self.rate_step[ready]
        j = np.minimum(x.astype(np.int64), points - 2)
        flat = self.loss.ravel()
        at = ready * points + j
        loss = flat[at] + (flat[at + 1] - flat[at]) * (x - j)
        loss = np.where(ready == 0, 1.0, loss)  # no replica: every request fails
        beyond = (x >= points - 1) & (ready > 0)  # past the table's reach (rare): computed
        for r in np.unique(ready[beyond]):
            at = beyond & (ready == r)
            loss[at] = rejected(self.settings, int(r), rate[at])
        return loss


# -- per window -------------------------------------------------------------------------------


def cpu_demand(settings: SimSettings, ready: int, offered_rate: float) -> float:
    """Cores a function would use over a window if the node's cores did not bind it:
    ``ready · idle_cpu + min(offered_rate, ready · replica_rate) · cpu_per_request``."""
    s = settings
    return ready * s.idle_cpu + min(offered_rate, ready * s.per_replica_rate) * s.cpu_per_request


def share_cores(cores: float, demands: list[float]) -> list[float]:
    """The cores each function of a node gets for a window, from every function's demand.

    While the demands fit (their sum is at most ``cores``), each function gets what the
    others leave, ``cores − Σ others' demand``: its own demand plus all of the slack. When
    they do not fit, the cores are shared in proportion to the demands. Both rules give
    ``demand`` itself when the sum equals ``cores``, so a share never jumps.
    """
    total = sum(demands)
    if total <= cores:
        return [cores - (total - d) for d in demands]
    return [cores * d / total for d in demands]


def relative_wait(rho: Any, servers: Any, xp: Any = FLOATS) -> Any:
    """Mean wait of an M/M/c station in units of its service time (Sakasegawa), ``rho`` capped
    at :data:`RHO_MAX`: ``rho^(sqrt(2 (c + 1)) − 1) / (c · (1 − rho))``."""
    rho = xp.minimum(xp.maximum(rho, 0.0), RHO_MAX)
    servers = xp.maximum(servers, 1e-9)
    return rho ** ((2.0 * (servers + 1.0)) ** 0.5 - 1.0) / (servers * (1.0 - rho))


def cpu_wait(settings: SimSettings, served_rate: Any, ready: Any, xp: Any = FLOATS) -> Any:
    """Mean wait of a request's CPU part for a share of the node's ``cores`` (seconds)."""
    s = settings
    if s.cores is None:
        return 0.0 * served_rate
    rho = (served_rate * s.cpu_per_request + ready * s.idle_cpu) / s.cores
    return s.cpu_per_request * relative_wait(rho, s.cores, xp)


def stationary_wait(
    settings: SimSettings, served_rate: Any, offered_rate: Any, ready: Any, cap: Any, xp: Any = FLOATS
) -> Any:
    """Mean wait per served request beyond the service time and the fluid queue (seconds), below
    capacity: the CPU share of ``cores`` (both modes) and, for a queueing function, the M/M/c
    queue of its ``capacity · service_time`` slots."""
    s = settings
    wait = cpu_wait(s, served_rate, ready, xp)
    if s.overload == "queue":
        wait = wait + s.service_time * relative_wait(offered_rate / xp.maximum(cap, 1e-9), cap * s.service_time, xp)
    return wait


def longest_wait(settings: SimSettings, ready: Any, cap: Any, xp: Any = FLOATS) -> Any:
    """The longest mean wait the overload allows (seconds): the timeout when queueing; every
    slot busy when rejecting (``concurrency · R / capacity − service_time``)."""
    s = settings
    if s.overload == "queue":
        return s.request_timeout + 0.0 * cap
    return xp.maximum(s.concurrency * ready / xp.maximum(cap, 1e-9) - s.service_time, 0.0)


def utilisation(
    settings: SimSettings, served: Any, ready_seconds: Any, busy_seconds: Any
) -> tuple[Any, Any]:
    """CPU and memory use over a stretch, as fractions of what the replicas request.

    ``busy_seconds`` is the integral of the requests in flight (Little: served × mean latency).
    """
    s = settings
    cpu = (served * s.cpu_per_request + ready_seconds * s.idle_cpu) / (ready_seconds * s.cpu_request)
    mem = (ready_seconds * s.mem_base_mib + busy_seconds * s.mem_per_request_mib) / (ready_seconds * s.mem_request_mib)
    return cpu, mem
