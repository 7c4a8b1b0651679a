"""The three ports every backend implements, and the bundle that carries them.

A backend is a :class:`Backend`: a clock, a :class:`Scaler`, a :class:`MetricsSource` and a
:class:`LoadDriver`. The simulator implements them on a virtual clock; the Kubernetes
backend implements them against a cluster. The engine sees only these protocols.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from faastrain_async.clock import Clock
from faastrain_async.events import LoadReport, ReplicaEvent, WindowMetrics

EventSink = Callable[[ReplicaEvent], None]


class Scaler(Protocol):
    """Changes the function's replica count and reports what its replicas do."""

    async def set_replicas(self, n: int) -> None:
        """Ask for ``n`` replicas. Returns once the request is accepted, not once it settled."""
        ...

    async def watch(self, sink: EventSink) -> None:
        """Deliver every replica event to ``sink``, starting with a :class:`PodSnapshot`.

        A live backend runs until cancelled and raises :class:`WatchError` when it cannot
        recover. A virtual-time backend registers ``sink`` and returns at once; it delivers
        events as its clock advances.
        """
        ...


class MetricsSource(Protocol):
    """Reads what the function did over a window."""

    async def window(self, start: float, end: float) -> WindowMetrics:
        """Metrics over exactly ``[start, end]`` (clock seconds); raises MetricsUnavailable."""
        ...

    async def resource_requests(self) -> tuple[float, float]:
        """CPU (cores) and memory (bytes) one replica requests: what utilisation is a fraction of."""
        ...


class LoadDriver(Protocol):
    """Drives the workload profile against the function."""

    async def start(self) -> None:
        """Start the workload (idempotent); the backend calls it at its first reset."""
        ...

    async def watch(self) -> None:
        """Run until cancelled; raise :class:`LoadGeneratorError` if the generator dies.

        A virtual-time backend returns at once.
        """
        ...

    async def report(self, start: float, end: float) -> LoadReport:
        """Intended and achieved rate over ``[start, end]`` (waits briefly for late statistics)."""
        ...

    async def stop(self) -> None:
        """Stop the workload and release everything it started (idempotent)."""
        ...


class Backend(Protocol):
    """A clock and the three ports, with a life cycle."""

    # Read-only, so that a backend may hold narrower types (a SimLoad is a LoadDriver).
    @property
    def clock(self) -> Clock: ...

    @property
    def scaler(self) -> Scaler: ...

    @property
    def metrics(self) -> MetricsSource: ...

    @property
    def load(self) -> LoadDriver: ...

    async def reset(self, *, seed: int | None, replicas: int) -> None:
        """Prepare an episode that starts with ``replicas`` replicas.

        The first reset connects and starts the workload (a seed fixes its random arrivals);
        a simulator starts a new world whenever a seed is given. The engine starts its
        watchers after the first reset and then requests ``replicas``.
        """
        ...

    async def aclose(self) -> None:
        """Stop everything the backend started."""
        ...
