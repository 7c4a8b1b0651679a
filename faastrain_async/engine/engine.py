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
        raise _unwrap(error)

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
                    failure = _unwrap(error)
        self._supervisor = None
        await self.backend.aclose()
        if failure is not None:
            raise failure

    # -- steps --------------------------------------------------------------------------
    async def reset(self, *, seed: int | None, replicas: int) -> StepRecord:
        """Start an episode with ``replicas`` replicas; measure one window once they settled."""
        self._raise_if_failed()
        await self.backend.reset(seed=seed, replicas=replicas)
        await self.start()
        self.state.restart(self.clock.now())
        return await self.step(replicas)

    async def step(self, target: int) -> StepRecord:
        """Scale to ``target``, wait until it settled, then measure ``interval`` seconds."""
        self._raise_if_failed()
        clock, state, backend = self.clock, self.state, self.backend
        t_action = clock.now()
        await backend.scaler.set_replicas(target)
        if self._supervisor is None:  # a virtual clock: nothing runs beside the step
            done: Callable[[], bool] = functools.partial(state.settled, target)
        else:
            failed = self._supervisor.done
            done = lambda: state.settled(target) or failed()  # noqa: E731
        settled = await clock.wait_until(done, t_action + self.settle_timeout, state.changed)
        self._raise_if_failed()
        t_settled = clock.now()
        t_last_event = state.last_event_time
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
        ready_seconds = state.ready_seconds(t_settled)
        end = t_settled + self.interval
        await clock.sleep_until(end)
        self._raise_if_failed()
        metrics = await backend.metrics.window(t_settled, end)
        load = await backend.load.report(t_settled, end)
        replicas = (state.ready_seconds(end) - ready_seconds) / self.interval
        # Positional, in field order: a simulated step builds one every few microseconds.
        return StepRecord(
            target, t_action, t_settled, settled, t_last_event, t_settled, end, clock.now(),
            replicas, state.ready, state.pending, state.terminating, metrics, load,
        )


def _unwrap(error: BaseException) -> BaseException:
    """The watcher's own error out of the TaskGroup's wrapping."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error

