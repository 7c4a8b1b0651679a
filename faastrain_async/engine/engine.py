"""The engine: one step's sequence (scale, settle, measure) over a backend's three ports.

On a live clock the engine owns one ``asyncio.TaskGroup``, run by a supervisor task, with a
named task per watcher: ``pods-watcher`` feeds the :class:`ClusterState` and
``load-watcher`` follows the load generator. A watcher that fails ends the group; the failure
wakes any wait in progress and is raised from the next engine call. On a virtual clock there
is nothing to run concurrently: the backend delivers its events as the clock advances.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import NamedTuple

from faastrain_async.backends.ports import Backend
from faastrain_async.config import SettlePolicy
from faastrain_async.engine.state import ClusterState
from faastrain_async.errors import SettleTimeout
from faastrain_async.events import LoadReport, WindowMetrics
from faastrain_async.logger import get_logger

log = get_logger(__name__)

#: How long aclose() lets the watchers wind down before it cancels them.
SHUTDOWN_TIMEOUT = 10.0


class StepRecord(NamedTuple):
    """What one scale-settle-measure sequence found."""

    target: int
    t_action: float
    t_settled: float
    settled: bool
    #: Time of the last replica event before the barrier released (None: no event came).
    t_last_event: float | None
    window_start: float
    window_end: float
    #: When the window's metrics were in (after the end: waiting for the metrics source).
    t_measured: float
    #: Time-weighted mean of ready replicas over the window; equals ``ready`` when steady.
    replicas: float
    ready: int
    pending: int
    terminating: int
    metrics: WindowMetrics
    load: LoadReport

    @property
    def settle_seconds(self) -> float:
        return self.t_settled - self.t_action


class OpenWindow(NamedTuple):
    """A step between its settle barrier and its window's end."""

    target: int
    t_action: float
    t_settled: float
    settled: bool
    t_last_event: float | None
    #: The ready-replica-seconds integral at ``t_settled``.
    ready_seconds: float


class Engine:
    """Applies a replica target, waits until it really holds, and measures a window."""

    def __init__(
        self,
        backend: Backend,
        *,
        interval: float,
        settle_timeout: float,
        on_settle_timeout: SettlePolicy = "continue",
    ) -> None:
        self.backend = backend
        self.clock = backend.clock
        self.interval = interval
        self.settle_timeout = settle_timeout
        self.on_settle_timeout = on_settle_timeout
        self.state = ClusterState()
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping: asyncio.Event | None = None
        self._started = False
        self._failure_reported = False

    # -- life cycle ---------------------------------------------------------------------
    async def start(self) -> None:
        """Start the watchers (idempotent); the first reset calls it."""
        if self._started:
            return
        self._started = True
        if self.clock.virtual:
            await self.backend.scaler.watch(self.state.apply)
            return
        self._stopping = asyncio.Event()
        self._supervisor = asyncio.create_task(self._supervise(), name="engine")
        self._supervisor.add_done_callback(lambda _: self.state.changed.set())

    async def _supervise(self) -> None:
        assert self._stopping is not None
        async with asyncio.TaskGroup() as tg:
            watchers = [
                tg.create_task(self.backend.scaler.watch(self.state.apply), name="pods-watcher"),
                tg.create_task(self.backend.load.watch(), name="load-watcher"),
            ]
            await self._stopping.wait()
            for task in watchers:
                task.cancel()

    def _raise_if_failed(self) -> None:
        task = self._supervisor
        if task is None or not task.done() or task.cancelled():
            return
        error = task.exception()
        if error is None:
            return
        self._failure_reported = True
        raise unwrap(error)

    async def aclose(self) -> None:
        """Stop the watchers and the backend; re-raise a watcher failure not yet reported."""
        failure: BaseException | None = None
        task = self._supervisor
        if task is not None and self._stopping is not None:
            self._stopping.set()
            try:
                async with asyncio.timeout(SHUTDOWN_TIMEOUT):
                    await asyncio.shield(task)
            except TimeoutError:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            except BaseException as error:  # a watcher failed: close the backend, then re-raise
                if not self._failure_reported:
                    failure = unwrap(error)
        self._supervisor = None
        await self.backend.aclose()
        if failure is not None:
            raise failure

    # -- steps --------------------------------------------------------------------------
    async def reset(self, *, seed: int | None, replicas: int) -> StepRecord:
        """Start an episode with ``replicas`` replicas; measure one window once they settled."""
        await self.prepare(seed=seed, replicas=replicas)
        return await self.step(replicas)

    async def prepare(self, *, seed: int | None, replicas: int) -> None:
        """The part of a reset before its first step: the backend's reset, the watchers."""
        self._raise_if_failed()
        await self.backend.reset(seed=seed, replicas=replicas)
        await self.start()
        self.state.restart(self.clock.now())

    async def step(self, target: int) -> StepRecord:
        """Scale to ``target``, wait until it settled, then measure ``interval`` seconds."""
        t_action = await self.scale(target)
        settled = await self.settle(target, t_action + self.settle_timeout)
        opened = self.open_window(target, t_action, settled, self.clock.now())
        return await self.measure(opened, opened.t_settled + self.interval)

    # The phases of a step, apart so that several engines can take each one together (a joint
    # step of several functions on one cluster: faastrain_async.multi).
    async def scale(self, target: int) -> float:
        """Ask for ``target`` replicas; the time of the request."""
        self._raise_if_failed()
        t_action = self.clock.now()
        await self.backend.scaler.set_replicas(target)
        return t_action

    async def settle(self, target: int, deadline: float) -> bool:
        """Wait until ``target`` replicas settled, or ``deadline``; apply the settle-timeout policy."""
        state = self.state
        if self._supervisor is None:  # a virtual clock: nothing runs beside the step
            done: Callable[[], bool] = functools.partial(state.settled, target)
        else:
            failed = self._supervisor.done
            done = lambda: state.settled(target) or failed()  # noqa: E731
        settled = await self.clock.wait_until(done, deadline, state.changed)
        self._raise_if_failed()
        if not settled:
            log.warning(
                "settle timeout", target=target, ready=state.ready, pending=state.pending,
                terminating=state.terminating, timeout=self.settle_timeout,
            )
            if self.on_settle_timeout == "raise":
                raise SettleTimeout(
                    f"replicas did not settle on {target} within settle_timeout={self.settle_timeout}s: "
                    f"{state.ready} ready, {state.pending} pending, {state.terminating} terminating"
                )
        return settled

    def open_window(self, target: int, t_action: float, settled: bool, now: float) -> OpenWindow:
        """What holds when the window opens at ``now``, the clock's time (the settle barrier
        has just released; no event has been applied since)."""
        return OpenWindow(target, t_action, now, settled, self.state.last_event_time, self.state.ready_seconds(now))

    async def measure(self, opened: OpenWindow, end: float) -> StepRecord:
        """Wait until ``end``, then read the window ``[opened.t_settled, end]``."""
        clock, state, backend = self.clock, self.state, self.backend
        start = opened.t_settled
        await clock.sleep_until(end)
        self._raise_if_failed()
        metrics = await backend.metrics.window(start, end)
        load = await backend.load.report(start, end)
        replicas = (state.ready_seconds(end) - opened.ready_seconds) / (end - start)
        # Positional, in field order: a simulated step builds one every few microseconds.
        return StepRecord(
            opened.target, opened.t_action, start, opened.settled, opened.t_last_event, start, end, clock.now(),
            replicas, state.ready, state.pending, state.terminating, metrics, load,
        )


def unwrap(error: BaseException) -> BaseException:
    """The watcher's own error out of the TaskGroup's wrapping."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error

