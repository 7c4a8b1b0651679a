"""Every simulator parameter from one calibration's measurements (pure; see :mod:`.fit`)."""

from __future__ import annotations

from collections.abc import Sequence

from faastrain_async.calibration.file import UNITS, Parameter
from faastrain_async.calibration.fit import (
    WAITS,
    Capacity,
    Estimate,
    cv_estimate,
    fit_capacity,
    fit_concurrency,
    fit_service,
    fit_shared,
    mean_estimate,
    overload_of,
    slope_through_origin,
)
from faastrain_async.calibration.measurements import Level, Measurements, Transition
from faastrain_async.errors import CalibrationError

#: The smallest CPU per request a fit reports (SimSettings needs it > 0).
MIN_CPU_PER_REQUEST = 1e-6


def fit_parameters(m: Measurements) -> dict[str, Parameter]:
    """The parameters, each with its spread, unit and the measurement it came from."""
    out: dict[str, Parameter] = {}

    def put(name: str, value: float | int | str | None, spread: float | None, source: str) -> None:
        out[name] = Parameter(value, None if spread is None else float(spread), UNITS[name], source)

    def put_estimate(name: str, estimate: Estimate, source: str) -> None:
        put(name, estimate.value, estimate.spread, source)

    facts = m.facts
    put("cpu_request", facts.cpu_request_cores, None, "the Deployment's CPU request")
    put("mem_request_mib", facts.memory_request_mib, None, "the Deployment's memory request")
    put("grace_period", facts.grace_period_s, None, "the pods' terminationGracePeriodSeconds")

    n = len(m.probe.latencies_s)
    service, service_cv, p95 = fit_service(m.probe)
    put_estimate("service_time", service, f"probe: {n} requests one at a time, mean latency at the gateway")
    put_estimate("service_time_cv", service_cv, f"probe: sd / mean of the {n} latencies (p95 {p95:.4g} s)")

    overload = overload_of(m.levels, m.bursts)
    mode = overload.mode
    concurrency, how = fit_concurrency(m.bursts, m.levels, mode)
    put("concurrency", int(concurrency.value), concurrency.spread, how)
    after = f" after {overload.refused_after * 1000:.3g} ms" if overload.refused_after is not None else ""
    put("overload", mode, None, f"levels and bursts: {overload.rejected:.0f} requests refused at once{after}, "
        f"{overload.waited:.0f} timed out, {overload.other:.0f} other errors")  # fmt: skip
    put_estimate("request_timeout", request_timeout(m, mode), "levels past capacity: the longest p99 latency of timed-out "
                 "requests" if mode == "queue" and overload.waited > 0 else
                 "the load generator's timeout (no request waited that long)")  # fmt: skip

    idle_cpu = mean_estimate([c for u in m.idle for c in u.cpu_cores])
    mem_base = mean_estimate([b for u in m.idle for b in u.memory_mib])
    counts = ", ".join(str(u.replicas) for u in m.idle)
    put_estimate("idle_cpu", idle_cpu, f"no load: mean CPU per ready pod at {counts} replica(s)")
    put_estimate("mem_base_mib", mem_base, f"no load: mean memory per ready pod at {counts} replica(s)")
    cpu = cpu_per_request(m.levels, idle_cpu.value)
    put_estimate("cpu_per_request", cpu, "load levels: slope of the pods' CPU above idle against the served rate")
    put_estimate("mem_per_request_mib", memory_per_request(m.levels, mem_base.value),
                 "load levels: slope of memory per pod above idle against requests in flight per pod (Little)")  # fmt: skip

    capacities = fitted_capacities(m.levels, int(concurrency.value), mode)
    rate, cores = fit_shared(capacities, cpu.value, idle_cpu.value)
    first = capacities[0]
    how = "an Erlang loss fit" if mode == "reject" else "the plateau"
    put_estimate("replica_rate", rate, f"capacity at {first.replicas} replica(s), {how} of served against sent"
                 + ("" if first.saturated else " (never saturated: a lower bound)"))  # fmt: skip
    table = ", ".join(f"R={c.replicas}: {c.rate.value:.4g}" + ("" if c.saturated else "+") for c in capacities)
    if cores is None:
        put("cores", None, None, f"capacities ({table} req/s) grew with the replicas: no shared limit seen")
    else:
        put_estimate("cores", cores, f"capacities ({table} req/s) fitted to min(R·replica_rate, (cores − R·idle_cpu) / cpu_per_request)")

    for name, samples, what in (
        ("cold_start", m.cold_starts, "scale-ups: scale request to Ready"),
        ("termination", m.terminations, "scale-downs: scale request to deleted"),
    ):
        mean, cv = timing(samples, name)
        put_estimate(name, mean, f"{len(samples)} pods of {len({(t.from_replicas, t.to_replicas) for t in samples})} "
                     f"kinds of {what}, from the pod watch")  # fmt: skip
        put_estimate(f"{name}_cv", cv, f"sd / mean of the same {len(samples)} times")
    return {name: out[name] for name in UNITS}


def request_timeout(m: Measurements, mode: str) -> Estimate:
    """How long a waiting request lasts before it fails: the longest p99 latency of levels with
    timeouts (queueing functions), else the load generator's timeout."""
    timed_out = [lv.p99_s for lv in m.levels if lv.p99_s is not None and any(lv.failures_rps.get(k, 0) > 0 for k in WAITS)]
    if mode == "queue" and timed_out:
        return Estimate(min(max(timed_out), m.facts.load_timeout_s), None)
    return Estimate(m.facts.load_timeout_s, None)


def fitted_capacities(levels: Sequence[Level], concurrency: int, mode: str) -> list[Capacity]:
    """The capacity of every replica count measured, fewest replicas first."""
    counts = sorted({level.replicas for level in levels})
    if not counts:
        raise CalibrationError("no load level was measured, so the capacity cannot be fitted")
    return [fit_capacity([lv for lv in levels if lv.replicas == r], concurrency * r, mode) for r in counts]


def cpu_per_request(levels: Sequence[Level], idle_cpu: float) -> Estimate:
    """CPU seconds per served request: the replicas' CPU above idle against the served rate."""
    points = [(lv.ok_rps, lv.replicas * (lv.cpu_cores - idle_cpu)) for lv in levels if lv.cpu_cores is not None]
    if not points:
        raise CalibrationError("no CPU reading under load, so the CPU per request cannot be fitted")
    slope = slope_through_origin([x for x, _ in points], [y for _, y in points])
    return Estimate(max(slope.value, MIN_CPU_PER_REQUEST), slope.spread)


def memory_per_request(levels: Sequence[Level], base: float) -> Estimate:
    """MiB per request in flight: memory per pod above idle against requests in flight per pod."""
    points = []
    for lv in levels:
        latency = lv.gateway_mean_s if lv.gateway_mean_s is not None else lv.p50_s
        if lv.memory_mib is not None and latency is not None:
            points.append((lv.ok_rps * latency / lv.replicas, lv.memory_mib - base))
    if not points:
        raise CalibrationError("no memory reading under load, so the memory per request cannot be fitted")
    slope = slope_through_origin([x for x, _ in points], [y for _, y in points])
    return Estimate(max(slope.value, 0.0), slope.spread)


def timing(samples: Sequence[Transition], what: str) -> tuple[Estimate, Estimate]:
    """Mean and coefficient of variation of the pods' times."""
    if len(samples) < 2:
        raise CalibrationError(f"{what}: {len(samples)} pod time(s) measured; need two or more")
    seconds = [t.seconds for t in samples]
    return mean_estimate(seconds), cv_estimate(seconds)
