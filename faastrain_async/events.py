"""Typed events and records that cross the layers.

Replica events come from a backend's watcher (a Kubernetes pod watch, or the simulator) and
feed the engine's :class:`~faastrain_async.engine.state.ClusterState`. Window metrics and
load reports are what a backend measured over one measurement window. They are immutable
named tuples: a simulated step builds several, and a tuple is built several times faster
than a frozen dataclass.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import NamedTuple


class PodPhase(enum.Enum):
    """Where one replica stands, as far as serving traffic goes."""

    PENDING = "pending"  # created, not ready yet (scheduling, starting, cold start, probe failing)
    READY = "ready"  # passes its readiness probe and receives traffic
    TERMINATING = "terminating"  # deletion requested; draining, receives no new traffic


# The members as plain names: reading an Enum member off its class costs several times more
# than a global lookup, which shows in a simulated step's hot path.
PENDING, READY, TERMINATING = PodPhase.PENDING, PodPhase.READY, PodPhase.TERMINATING


class PodEvent(NamedTuple):
    """One replica changed phase, or was deleted (``phase is None``)."""

    pod: str
    phase: PodPhase | None
    time: float
    resource_version: str | None = None


class PodSnapshot(NamedTuple):
    """The complete set of replicas, from a (re-)list; replaces whatever was known before."""

    pods: Mapping[str, PodPhase]
    time: float
    resource_version: str | None = None


ReplicaEvent = PodEvent | PodSnapshot


class WindowMetrics(NamedTuple):
    """What the function did over one measurement window ``[start, end]``.

    ``mean_exec_s`` and ``p95_exec_s`` are None when no request completed in the window
    (there is nothing to average); the env reports that explicitly instead of a 0.
    ``stale`` is True when a value could not be read for this window and the backend was
    configured to return the last known one instead of raising.
    """

    start: float
    end: float
    requests: float
    successes: float
    mean_exec_s: float | None
    p95_exec_s: float | None
    cpu_util: float
    mem_util: float
    stale: bool = False

    @property
    def throughput_pct(self) -> float:
        """Share of the window's requests that succeeded, in percent (100 when none arrived)."""
        return 100.0 * self.successes / self.requests if self.requests > 0 else 100.0


class LoadReport(NamedTuple):
    """Intended and achieved request rate of the load generator over a window (req/s)."""

    intended_rps: float
    achieved_rps: float
