"""The fitting: the simulator's parameters from a calibration's measurements, as pure functions.

Every estimate carries a spread: the standard error of the estimate unless its ``from`` text
says otherwise (a jackknife over the levels for capacities, half the range for a count read
off bursts). See docs/calibration.md, "How each parameter is fitted".
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from faastrain_async.calibration.measurements import Burst, Level, Probe
from faastrain_async.errors import CalibrationError

#: Failure kinds of the load generator that mean "refused at once" and "waited too long".
REJECTIONS = ("status_429", "status_503")
WAITS = ("timeout", "status_504")
#: A replica count whose capacity is below this share of ``replicas × replica_rate`` is held
#: back by the shared CPU.
SHARED_EFFICIENCY = 0.8
#: A level counts as past capacity when it sent this many times the fitted capacity.
PAST_CAPACITY = 1.2
#: A burst's request answered within this many times the fastest answer ran in the first wave.
FIRST_WAVE = 1.5
#: Most slots per replica a loss fit tries.
MAX_SLOTS = 64
#: A level whose generator sent less than this share of its schedule found the generator's
#: limit rather than the function's.
GENERATOR_BEHIND = 0.9
#: A level that served less than this share of the best a lower load served has collapsed (the
#: machine's CPU starved everything, the load generator too), which the model does not describe.
COLLAPSE = 0.8
_GRID = 400


class Estimate(NamedTuple):
    value: float
    spread: float | None


# -- statistics -------------------------------------------------------------------------------


def mean_estimate(samples: Sequence[float]) -> Estimate:
    """The sample mean and its standard error (None with fewer than two samples)."""
    if not samples:
        raise CalibrationError("no samples to average")
    mean = statistics.fmean(samples)
    return Estimate(mean, statistics.stdev(samples) / math.sqrt(len(samples)) if len(samples) > 1 else None)


def cv_estimate(samples: Sequence[float]) -> Estimate:
    """Coefficient of variation (sd / mean) and its approximate standard error
    ``cv · sqrt((1 + 2 cv²) / 2n)``."""
    if len(samples) < 2:
        raise CalibrationError(f"a coefficient of variation needs two samples or more, got {len(samples)}")
    mean = statistics.fmean(samples)
    cv = statistics.stdev(samples) / mean if mean > 0 else 0.0
    return Estimate(cv, cv * math.sqrt((1 + 2 * cv * cv) / (2 * len(samples))))


def quantile(samples: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by the nearest rank."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def slope_through_origin(xs: Sequence[float], ys: Sequence[float]) -> Estimate:
    """Least-squares ``b`` of ``y = b x``, and its standard error."""
    sxx = sum(x * x for x in xs)
    if sxx <= 0:
        raise CalibrationError("a slope needs measurements at some load")
    b = sum(x * y for x, y in zip(xs, ys, strict=True)) / sxx
    if len(xs) < 2:
        return Estimate(b, None)
    residual = sum((y - b * x) ** 2 for x, y in zip(xs, ys, strict=True)) / (len(xs) - 1)
    return Estimate(b, math.sqrt(residual / sxx))


def minimise(objective: Callable[[float], float], low: float, high: float, points: int = _GRID) -> float:
    """The point of ``[low, high]`` (a log-spaced grid of ``points``, then golden sections)
    where ``objective`` is least."""
    grid = [low * (high / low) ** (i / (points - 1)) for i in range(points)]
    values = [objective(x) for x in grid]
    best = min(range(points), key=values.__getitem__)
    a, b = grid[max(best - 1, 0)], grid[min(best + 1, points - 1)]
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(40):
        c, d = b - ratio * (b - a), a + ratio * (b - a)
        if objective(c) < objective(d):
            b = d
        else:
            a = c
    return (a + b) / 2


def jackknife(fit: Callable[[Sequence[Level]], float], levels: Sequence[Level]) -> float | None:
    """Jackknife standard error of ``fit`` over the levels (None with fewer than three)."""
    n = len(levels)
    if n < 3:
        return None
    values = [fit([level for j, level in enumerate(levels) if j != i]) for i in range(n)]
    mean = statistics.fmean(values)
    return math.sqrt((n - 1) / n * sum((v - mean) ** 2 for v in values))


# -- the function alone -----------------------------------------------------------------------


def fit_service(probe: Probe) -> tuple[Estimate, Estimate, float]:
    """Service time (mean, as the gateway measures it), its cv, and its p95.

    The client's latencies include the hop to the gateway; the gateway's own mean, when read,
    is what the environment observes, so the client's samples are shifted by the difference.
    """
    samples = probe.latencies_s
    if len(samples) < 2:
        raise CalibrationError(f"the probe needs two answered requests or more, got {len(samples)}")
    client = statistics.fmean(samples)
    hop = max(0.0, client - probe.gateway_mean_s) if probe.gateway_mean_s is not None else 0.0
    shifted = [max(t - hop, 1e-6) for t in samples]
    return mean_estimate(shifted), cv_estimate(shifted), quantile(shifted, 0.95)


def erlang_b(servers: int, load: float) -> float:
    """Erlang's loss probability with ``servers`` slots and ``load`` erlangs offered."""
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    return b


def served(sent: float, capacity: float, slots: int, overload: str) -> float:
    """Requests per second served at ``sent`` offered: an Erlang loss system of ``slots`` with
    that capacity ("reject"), or all of them up to the capacity ("queue")."""
    if overload == "reject":
        return sent * (1.0 - erlang_b(slots, sent * slots / capacity))
    return min(sent, capacity)


@dataclass(frozen=True)
class Capacity:
    """Most requests per second a replica count completes, and whether a level went past it."""

    replicas: int
    rate: Estimate
    saturated: bool


def _capacity_fit(levels: Sequence[Level], slots: int, overload: str, points: int = _GRID) -> tuple[float, float]:
    """The capacity that best explains served against sent rates, and its squared error."""
    top = max(level.ok_rps for level in levels)
    if top <= 0:
        raise CalibrationError(f"no request succeeded at {levels[0].replicas} replica(s)")

    def error(capacity: float) -> float:
        return sum((lv.ok_rps - served(lv.sent_rps, capacity, slots, overload)) ** 2 / max(lv.sent_rps, 1.0) for lv in levels)

    capacity = minimise(error, 0.5 * top, 50.0 * top, points)
    return capacity, error(capacity)


def usable(levels: Sequence[Level]) -> list[Level]:
    """The levels a capacity is fitted to: not those where the load generator fell behind its
    schedule, nor those that served :data:`COLLAPSE` less than a lower load did (all of them
    when none is left)."""
    kept, best = [], 0.0
    for level in sorted(levels, key=lambda lv: lv.sent_rps):
        if level.sent_rps >= GENERATOR_BEHIND * level.scheduled_rps and level.ok_rps >= COLLAPSE * best:
            kept.append(level)
        best = max(best, level.ok_rps)
    return kept or list(levels)


def fit_capacity(levels: Sequence[Level], slots: int, overload: str) -> Capacity:
    """The capacity that best explains served against sent rates at one replica count (over
    its :func:`usable` levels)."""
    if not levels:
        raise CalibrationError("no load level was measured")
    levels = usable(levels)
    rate = _capacity_fit(levels, slots, overload)[0]
    saturated = any(level.sent_rps >= PAST_CAPACITY * rate for level in levels)
    spread = jackknife(lambda subset: _capacity_fit(subset, slots, overload)[0], levels)
    return Capacity(levels[0].replicas, Estimate(rate, spread), saturated)


class Overload(NamedTuple):
    """How a function answered past its capacity, judged from the levels and the bursts."""

    mode: str
    #: Failed requests refused at once (429, 503), timed out (timeout, 504), and other errors.
    rejected: float
    waited: float
    other: float
    #: Median latency of a refusal in the bursts (seconds), if any.
    refused_after: float | None


def overload_of(levels: Sequence[Level], bursts: Sequence[Burst]) -> Overload:
    """"reject" when more failures were refused at once than timed out, else "queue"."""
    rejected, waited, other = failures_by_class(levels)
    refusals = []
    for burst in bursts:
        for outcome, latency in burst.results:
            kind = outcome if outcome in ("timeout", "connection") else f"status_{outcome}"
            if kind in REJECTIONS:
                rejected += 1
                refusals.append(latency)
            elif kind in WAITS:
                waited += 1
            elif outcome != "200":
                other += 1
    after = statistics.median(refusals) if refusals else None
    return Overload("reject" if rejected > waited else "queue", rejected, waited, other, after)


def fit_concurrency(bursts: Sequence[Burst], levels: Sequence[Level], overload: str) -> tuple[Estimate, str]:
    """Requests one replica runs at once, and how that was read.

    A replica that refused part of a burst took exactly as many as it runs: the median accepted
    count. A rejecting function whose bursts were answered too fast to fill it: the slots of the
    Erlang loss system that best explains its fewest replicas' levels. A queueing one answers
    the first wave of a burst fast: the median count answered within :data:`FIRST_WAVE` times
    the fastest answer (a lower bound when a whole burst was).
    """
    if not bursts:
        raise CalibrationError("no burst was sent, so concurrency cannot be read")
    if any(outcome in ("429", "503") for burst in bursts for outcome, _ in burst.results):
        counts = [burst.accepted for burst in bursts]
        how = "median accepted of bursts sent at once to one replica (the rest were refused)"
    elif overload == "reject" and levels:
        fewest = min(level.replicas for level in levels)
        first = usable([level for level in levels if level.replicas == fewest])
        errors = {n: _capacity_fit(first, n * fewest, "reject", 60)[1] for n in range(1, MAX_SLOTS + 1)}
        slots = min(errors, key=errors.__getitem__)
        near = [n for n, e in errors.items() if e <= 2.0 * errors[slots]]  # spread: counts fitting about as well
        how = f"slots of the Erlang loss fit at {fewest} replica(s), spread: half the range whose error is within twice the least (bursts were not refused)"
        return Estimate(slots, (max(near) - min(near)) / 2), how
    else:
        counts = []
        for burst in bursts:
            answered = [t for outcome, t in burst.results if outcome == "200"]
            fastest = min(answered, default=0.0)
            counts.append(sum(1 for t in answered if t <= FIRST_WAVE * fastest))
        how = "median answered in the first wave of bursts sent at once to one replica (none refused)"
    if max(counts) < 1:
        raise CalibrationError("no request of any burst succeeded")
    return Estimate(max(1, round(statistics.median(counts))), (max(counts) - min(counts)) / 2), how


def fit_shared(capacities: Sequence[Capacity], cpu_per_request: float, idle_cpu: float) -> tuple[Estimate, Estimate | None]:
    """``replica_rate`` and ``cores`` of ``capacity(R) = min(R · replica_rate, (cores − R · idle_cpu)
    / cpu_per_request)``.

    ``replica_rate`` is the capacity of the fewest replicas measured, per replica. When some
    replica count reaches less than :data:`SHARED_EFFICIENCY` of ``R · replica_rate``, the CPU
    they share holds it back: ``cores`` is then fitted (least squares of the log capacities)
    over every count; otherwise None (no shared limit seen).
    """
    if not capacities:
        raise CalibrationError("no capacity was measured")
    first = min(capacities, key=lambda c: c.replicas)
    rate = first.rate.value / first.replicas
    rate_spread = first.rate.spread / first.replicas if first.rate.spread is not None else None
    held = [c for c in capacities if c.rate.value < SHARED_EFFICIENCY * c.replicas * rate]
    if not held:
        return Estimate(rate, rate_spread), None
    implied = [c.rate.value * cpu_per_request + c.replicas * idle_cpu for c in held]

    def error(cores: float) -> float:
        total = 0.0
        for c in capacities:
            model = min(c.replicas * rate, max(cores - c.replicas * idle_cpu, 1e-9) / cpu_per_request)
            total += math.log(c.rate.value / model) ** 2
        return total

    cores = minimise(error, 0.5 * min(implied), 2.0 * max(implied))
    spreads = [c.rate.spread * cpu_per_request for c in held if c.rate.spread is not None]
    return Estimate(rate, rate_spread), Estimate(cores, statistics.fmean(spreads) if spreads else None)


def failures_by_class(levels: Iterable[Level]) -> tuple[float, float, float]:
    """Failed requests (summed rates × seconds) refused at once, timed out, and other errors."""
    rejected = waited = other = 0.0
    for level in levels:
        for kind, rate in level.failures_rps.items():
            n = rate * level.seconds
            if kind in REJECTIONS:
                rejected += n
            elif kind in WAITS:
                waited += n
            else:
                other += n
    return rejected, waited, other
