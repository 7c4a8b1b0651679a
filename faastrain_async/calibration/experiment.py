"""The experiment: a live function measured through its backend's own ports.

It drives a connected :class:`~faastrain_async.backends.kubernetes.KubernetesBackend` (the
bundled local cluster or a real one): the scaler and its pod watch set every replica count and
time the cold starts and drains, the metrics source reads the gateway's execution times and the
pods' CPU and memory, and the load generator (``faastrain-loadgen``, a subprocess) holds the
load levels. The requests it sends itself (one at a time, bursts) go to the same gateway URL.

Phases, in order: the Deployment's facts; CPU and memory with no load; the probe; the bursts;
a staircase of load levels at each replica count; the scale-ups and scale-downs. The function
gets its replica count back at the end.
"""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiohttp

from faastrain_async.backends.kubernetes import KubernetesBackend
from faastrain_async.calibration import probe
from faastrain_async.calibration.fit import COLLAPSE, GENERATOR_BEHIND, fit_capacity, fit_concurrency, fit_service, overload_of
from faastrain_async.calibration.measurements import Facts, Level, Measurements, Probe, Transition, Usage
from faastrain_async.calibration.plan import Plan
from faastrain_async.clients.loadgen import LoadGenerator, LoadGenSettings, LoadSecond
from faastrain_async.engine.state import ClusterState
from faastrain_async.errors import CalibrationError, MetricsUnavailable, WatchError
from faastrain_async.events import READY, PodEvent, ReplicaEvent
from faastrain_async.logger import get_logger

log = get_logger(__name__)

MIB = 2**20
#: A level that failed this share of what it sent is deep enough in overload.
DEEP_OVERLOAD = 0.8
#: Kubernetes' terminationGracePeriodSeconds when a pod template leaves it out.
DEFAULT_GRACE = 30.0


class Experiment:
    """One calibration's measurements of the backend's function; ``progress`` gets a line per step."""

    def __init__(self, backend: KubernetesBackend, plan: Plan, progress: Callable[[str], None]) -> None:
        self.backend = backend
        self.plan = plan
        self.progress = progress
        self.clock = backend.clock
        self.state = ClusterState()
        self.events: list[PodEvent] = []
        s = backend.settings
        self.url = f"{s.gateway_url}/function/{s.function}"
        self.load_limit: float | None = None
        self.notes: list[str] = []

    def _sink(self, event: ReplicaEvent) -> None:
        self.state.apply(event)
        if isinstance(event, PodEvent):
            self.events.append(event)

    async def run(self) -> Measurements:
        """Measure, with the pod watch running beside; a watch failure ends the experiment."""
        watcher = asyncio.create_task(self.backend.scaler.watch(self._sink), name="pods-watcher")
        work = asyncio.create_task(self._measure(), name="calibration")
        try:
            done, _ = await asyncio.wait({watcher, work}, return_when=asyncio.FIRST_COMPLETED)
            if work in done:
                return work.result()
            watcher.result()  # raises the watch's own error
            raise WatchError("the pod watch ended while the calibration ran")
        finally:
            for task in (work, watcher):
                task.cancel()
            await asyncio.gather(work, watcher, return_exceptions=True)

    async def _measure(self) -> Measurements:
        if not await self.clock.wait_until(lambda: self.state.last_event_time is not None, self.clock.now() + 30.0, self.state.changed):
            raise CalibrationError("the pod watch sent no list of the function's pods within 30 s")
        original = max(self.state.ready + self.state.pending, 1)
        try:
            measurements = await self._phases()
        except BaseException:
            try:
                await self._scale(original)
            except Exception as e:  # the first failure is the one to report
                log.error("could not give the function its replicas back", replicas=original, error=repr(e))
            raise
        await self._scale(original)
        return measurements

    # -- phases -------------------------------------------------------------------------------

    async def _phases(self) -> Measurements:
        p, s = self.plan, self.backend.settings
        facts = await self._facts()
        self.progress(
            f"function {s.namespace}/{s.function}: requests {facts.cpu_request_cores:g} cores, "
            f"{facts.memory_request_mib:g} MiB; grace period {facts.grace_period_s:g} s"
        )
        await self._scale(1)
        idle = [await self._idle(1)]
        async with aiohttp.ClientSession() as http:
            started = self.clock.now()
            request = probe.Request(self.url, s.load_method, s.load_body, s.load_timeout)
            latencies = await probe.one_at_a_time(http, request, p.probe_requests)
            window = await self.backend.metrics.window(started, self.clock.now())
            alone = Probe(latencies, window.mean_exec_s)
            service = fit_service(alone)[0].value
            self.progress(f"probe: {len(latencies)} requests one at a time, mean {service:.4g} s at the gateway")
            bursts = []
            for _ in range(p.bursts):
                await asyncio.sleep(max(3 * service, 0.5))  # the previous burst's requests are done
                bursts.append(await probe.burst(http, request, p.burst_size))
        mode = overload_of((), bursts).mode
        c = int(fit_concurrency(bursts, (), mode)[0].value)
        outcomes = Counter(outcome for burst in bursts for outcome, _ in burst.results)
        self.progress(f"bursts of {p.burst_size}: {dict(outcomes)}; concurrency {c}, overload {mode} so far")
        levels: list[Level] = []
        per_replica = 1.0 / service  # one request at a time: where the first staircase starts
        for r in p.replica_counts:
            await self._scale(r)
            if r != 1:
                idle.append(await self._idle(r))
            steps = await self._staircase(r, p.start_fraction * per_replica * r)
            levels += steps
            # What the levels showed decides how their capacity is read (bursts can be too fast).
            mode = overload_of(levels, bursts).mode
            c = int(fit_concurrency(bursts, levels, mode)[0].value)
            capacity = fit_capacity(steps, c * r, mode)
            # The next count's staircase starts from this one's capacity, or from what it served.
            per_replica = (capacity.rate.value if capacity.saturated else max(lv.ok_rps for lv in steps)) / r
            self.progress(
                f"R={r}: capacity {capacity.rate.value:.4g} req/s" + ("" if capacity.saturated else " (not saturated)")
                + f", overload {mode}, concurrency {c}"
            )  # fmt: skip
            if not capacity.saturated:
                self.notes.append(f"capacity at {r} replica(s) not saturated by {max(lv.sent_rps for lv in steps):.4g} req/s")
        await self._scale(1)
        cold, drains = await self._scaling()
        return Measurements(
            facts=facts, probe=alone, bursts=tuple(bursts), idle=tuple(idle), levels=tuple(levels),
            cold_starts=tuple(cold), terminations=tuple(drains), load_limit_rps=self.load_limit, notes=tuple(self.notes),
        )  # fmt: skip

    async def _facts(self) -> Facts:
        metrics, s = self.backend.metrics, self.backend.settings
        cpu, memory = await metrics.resource_requests()
        grace = (await metrics.deployment()).spec.template.spec.termination_grace_period_seconds
        return Facts(cpu, memory / MIB, DEFAULT_GRACE if grace is None else float(grace), s.load_timeout)

    async def _scale(self, n: int) -> tuple[float, int, set[str]]:
        """Scale to ``n`` and wait until it settled; the request's time, the index of the first
        event after it, and the pods before it."""
        before, mark = set(self.state.pods), len(self.events)
        t = self.clock.now()
        await self.backend.scaler.set_replicas(n)
        if not await self.clock.wait_until(lambda: self.state.settled(n), t + self.plan.settle_timeout, self.state.changed):
            st = self.state
            raise CalibrationError(
                f"the replicas did not settle on {n} within {self.plan.settle_timeout:g} s: "
                f"{st.ready} ready, {st.pending} pending, {st.terminating} terminating"
            )
        return t, mark, before

    async def _usage(self) -> tuple[float, float]:
        """CPU (cores) and memory (MiB) per pod now, as the backend reads them."""
        metrics, s = self.backend.metrics, self.backend.settings
        if s.resource_metrics == "metrics-api":
            cpu, memory = await metrics.pod_usage()
            return cpu, memory / MIB
        now = self.clock.now()
        window = await metrics.window(now - self.plan.usage_every, now)
        cpu_request, memory_request = await metrics.resource_requests()
        return window.cpu_util * cpu_request, window.mem_util * memory_request / MIB

    async def _readings(self, until: float) -> list[tuple[float, float]]:
        """CPU and memory readings every ``usage_every`` seconds until ``until``."""
        readings = []
        while self.clock.now() < until:
            readings.append(await self._usage())
            await self.clock.sleep_until(min(self.clock.now() + self.plan.usage_every, until))
        return readings

    async def _idle(self, replicas: int) -> Usage:
        # Readings cover the last sampling interval: let them forget the scaling first.
        await asyncio.sleep(2 * self.plan.usage_every)
        readings = await self._readings(self.clock.now() + self.plan.idle_seconds)
        return Usage(replicas, tuple(c for c, _ in readings), tuple(m for _, m in readings))

    async def _staircase(self, replicas: int, start: float) -> list[Level]:
        """Load levels ``step`` apart from ``start``, until well past capacity."""
        p, s = self.plan, self.backend.settings
        rates = [min(start * p.step**i, p.max_rate) for i in range(p.max_levels)]
        rates = rates[: rates.index(p.max_rate) + 1] if p.max_rate in rates else rates
        profile = "steps:rates=" + "/".join(f"{r:.6g}" for r in rates) + f",hold={p.hold:g},loop=0"
        generator = LoadGenerator(LoadGenSettings(
            url=self.url, profile=profile, seed=replicas, timeout=s.load_timeout, method=s.load_method, body=s.load_body,
            workers=s.load_workers,
        ))  # fmt: skip
        levels: list[Level] = []
        try:
            await generator.start()
            assert generator.started is not None
            t0 = generator.started.t0
            for i in range(len(rates)):
                start_t, end_t = t0 + i * p.hold + p.warmup, t0 + (i + 1) * p.hold
                await self.clock.sleep_until(start_t)
                # An overloaded machine can starve the metrics path too: the level keeps what the
                # load generator saw, the note says what was missing, and the staircase ends.
                unread: list[str] = []
                try:
                    readings = await self._readings(end_t)
                except MetricsUnavailable as e:
                    readings, unread = [], [f"CPU and memory ({e})"]
                seconds = await self._seconds(generator, start_t, end_t)
                try:
                    gateway_mean = (await self.backend.metrics.window(start_t, end_t)).mean_exec_s
                except MetricsUnavailable as e:
                    gateway_mean, unread = None, [*unread, f"the gateway's execution time ({e})"]
                level = _level(replicas, seconds, gateway_mean, readings, end_t - start_t)
                levels.append(level)
                self.progress(_describe(level))
                if unread:
                    self.notes.append(f"R={replicas} at {level.offered_rps:.4g} req/s: could not read {'; '.join(unread)}; staircase ended")
                    self.progress(self.notes[-1])
                    break
                if self._enough(levels):
                    break
        finally:
            await generator.stop()
        return levels

    async def _seconds(self, generator: LoadGenerator, start: float, end: float) -> list[LoadSecond]:
        """The generator's lines for the seconds of ``[start, end]`` (they come about 1.5 s late)."""
        while generator.latest is None or generator.latest.t + 1 < end:
            await generator.next_second(timeout=10.0)
        inside = [line for line in generator.seconds if start <= line.t + 0.5 <= end]
        if not inside:
            raise CalibrationError(f"the load generator reported no second inside [{start:.1f}, {end:.1f}]")
        return inside

    def _enough(self, levels: list[Level]) -> bool:
        """Whether a staircase has gone far enough past capacity (or as far as it can)."""
        last = levels[-1]
        top = max(level.ok_rps for level in levels)
        if last.sent_rps < GENERATOR_BEHIND * last.scheduled_rps:
            self.load_limit = last.sent_rps if self.load_limit is None else min(self.load_limit, last.sent_rps)
            self.notes.append(f"the load generator sent {last.sent_rps:.4g} of the {last.scheduled_rps:.4g} req/s scheduled")
            return True
        if last.ok_rps < COLLAPSE * top:
            self.notes.append(f"at {last.replicas} replica(s), {last.sent_rps:.4g} req/s served less than lower loads did")
            return True
        beyond = sum(1 for level in levels if level.sent_rps >= 1.2 * top)
        return (last.sent_rps >= self.plan.past * top and beyond >= 2) or last.failed_rps >= DEEP_OVERLOAD * last.sent_rps

    async def _scaling(self) -> tuple[list[Transition], list[Transition]]:
        """Scale-ups from one replica and back: each new pod's time to Ready, each removed
        pod's time to deleted, from the pod watch."""
        p = self.plan
        cold: list[Transition] = []
        drains: list[Transition] = []
        for i in range(p.scale_ups):
            k = p.scale_sizes[i % len(p.scale_sizes)]
            t, mark, before = await self._scale(1 + k)
            ready = {e.pod: e.time for e in reversed(self.events[mark:]) if e.phase is READY and e.pod not in before}
            ups = [Transition(1, 1 + k, at - t) for at in ready.values()]
            t, mark, before = await self._scale(1)
            gone = {e.pod: e.time for e in self.events[mark:] if e.phase is None and e.pod in before}
            downs = [Transition(1 + k, 1, at - t) for at in gone.values()]
            cold += ups
            drains += downs
            self.progress(
                f"scale 1 -> {1 + k} -> 1 ({i + 1}/{p.scale_ups}): Ready after {', '.join(f'{u.seconds:.2f}' for u in ups)} s, "
                f"deleted after {', '.join(f'{d.seconds:.2f}' for d in downs)} s"
            )
            await asyncio.sleep(0.5)
        return cold, drains


def _median(values: list[float | None], scale: float = 1.0) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) * scale if present else None


def _level(replicas: int, seconds: list[LoadSecond], gateway_mean: float | None, readings: list[tuple[float, float]], span: float) -> Level:
    n = len(seconds)
    failures: Counter[str] = Counter()
    for line in seconds:
        failures.update(line.failures)
    return Level(
        replicas=replicas,
        offered_rps=sum(line.target_rps for line in seconds) / n,
        scheduled_rps=sum(line.scheduled for line in seconds) / n,
        sent_rps=sum(line.achieved_rps for line in seconds) / n,
        ok_rps=sum(line.ok for line in seconds) / n,
        failures_rps={kind: count / n for kind, count in sorted(failures.items())},
        p50_s=_median([line.p50_ms for line in seconds], 1e-3),
        p95_s=_median([line.p95_ms for line in seconds], 1e-3),
        p99_s=_median([line.p99_ms for line in seconds], 1e-3),
        gateway_mean_s=gateway_mean,
        cpu_cores=statistics.fmean(c for c, _ in readings) if readings else None,
        memory_mib=statistics.fmean(m for _, m in readings) if readings else None,
        seconds=span,
    )


def _describe(level: Level) -> str:
    def fmt(value: Any, unit: str) -> str:
        return "-" if value is None else f"{value:.3g}{unit}"

    failed = ", ".join(f"{k} {v:.3g}" for k, v in level.failures_rps.items()) or "none"
    return (
        f"R={level.replicas} offered {level.offered_rps:.4g} req/s: sent {level.sent_rps:.4g}, served {level.ok_rps:.4g}, "
        f"failed {failed}; mean {fmt(level.gateway_mean_s, ' s')}, p95 {fmt(level.p95_s, ' s')}; "
        f"cpu {fmt(level.cpu_cores, ' cores')}/pod"
    )
