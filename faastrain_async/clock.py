"""Clocks: real time for clusters, virtual time for the simulator.

The engine never sleeps or waits directly: it asks its clock. A :class:`RealClock` waits in
asyncio on a signal the watchers set. A :class:`VirtualClock` is a small discrete-event
scheduler: waiting runs the scheduled callbacks in time order until the condition holds,
without ever suspending, so a simulated step costs microseconds and its coroutine can be
driven to completion with a single ``send(None)``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Any, Protocol

from faastrain_async.errors import ConfigError

Predicate = Callable[[], bool]


class Clock(Protocol):
    """Time as the engine and the backends see it, in seconds."""

    virtual: bool

    def now(self) -> float:
        """Current time in seconds (unix time for a real clock, from 0 for a virtual one)."""
        ...

    def call_at(self, when: float, callback: Callable[..., None], *args: Any) -> None:
        """Run ``callback(*args)`` once the clock reaches ``when``."""
        ...

    async def sleep_until(self, when: float) -> None:
        """Return once the clock has reached ``when``."""
        ...

    async def wait_until(self, predicate: Predicate, deadline: float, changed: asyncio.Event) -> bool:
        """Return True once ``predicate()`` holds, or False at ``deadline``.

        ``predicate`` is re-checked whenever ``changed`` is set (a real clock) or a scheduled
        callback has run (a virtual clock); never by polling.
        """
        ...


class RealClock:
    """Wall-clock time, optionally sped up by ``scale`` (a sped-up simulator runs on one).

    ``now()`` is unix time when ``scale == 1``, so windows can be handed to Prometheus as they
    are. Waits are asyncio waits; ``scale`` divides every real duration.
    """

    virtual = False

    def __init__(self, scale: float = 1.0) -> None:
        if not scale > 0:
            raise ConfigError(f"clock scale must be > 0, got {scale!r}")
        self.scale = float(scale)
        self._origin_wall = time.time()
        self._origin_mono = time.monotonic()

    def now(self) -> float:
        return self._origin_wall + (time.monotonic() - self._origin_mono) * self.scale

    def call_at(self, when: float, callback: Callable[..., None], *args: Any) -> None:
        delay = max(0.0, (when - self.now()) / self.scale)
        asyncio.get_running_loop().call_later(delay, callback, *args)

    async def sleep_until(self, when: float) -> None:
        # asyncio may wake a hair early; loop until the clock really reached ``when``.
        while (remaining := when - self.now()) > 0:
            await asyncio.sleep(remaining / self.scale)

    async def wait_until(self, predicate: Predicate, deadline: float, changed: asyncio.Event) -> bool:
        while not predicate():
            remaining = (deadline - self.now()) / self.scale
            if remaining <= 0:
                return False
            changed.clear()
            try:
                async with asyncio.timeout(remaining):
                    await changed.wait()
            except TimeoutError:
                return predicate()
        return True


class VirtualClock:
    """A discrete-event clock: time moves only when someone waits."""

    virtual = True

    def __init__(self) -> None:
        self._now = 0.0
        self._queue: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    def reset(self) -> None:
        """Back to time 0 with nothing scheduled."""
        self._now = 0.0
        self._queue.clear()

    def call_at(self, when: float, callback: Callable[..., None], *args: Any) -> None:
        heapq.heappush(self._queue, (max(when, self._now), next(self._order), callback, args))

    def _run_until(self, when: float, predicate: Predicate | None) -> bool:
        """Run callbacks due by ``when`` in time order until ``predicate()`` holds; then go to ``when``."""
        queue, pop = self._queue, heapq.heappop
        while predicate is None or not predicate():
            if not queue or queue[0][0] > when:
                if when > self._now:
                    self._now = when
                return False
            self._now, _, callback, args = pop(queue)
            callback(*args)
        return True

    async def sleep_until(self, when: float) -> None:
        self._run_until(when, None)

    async def wait_until(self, predicate: Predicate, deadline: float, changed: asyncio.Event | None = None) -> bool:
        return self._run_until(deadline, predicate)
