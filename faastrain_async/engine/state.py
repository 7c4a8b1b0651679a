"""What the engine knows about the function's replicas, fed only by replica events."""

from __future__ import annotations

import asyncio

from faastrain_async.events import PodEvent, PodPhase, ReplicaEvent


class ClusterState:
    """Replica phases by pod name, their counts, and the ready-replica-seconds integral.

    The integral lets the engine report the replicas that really held over a window (their
    time-weighted mean) rather than a count read at one instant.
    """

    def __init__(self) -> None:
        self.pods: dict[str, PodPhase] = {}
        self.ready = 0
        self.pending = 0
        self.terminating = 0
        self.resource_version: str | None = None
        #: Time of the last event applied (None before the first).
        self.last_event_time: float | None = None
        #: Set on every applied event; the real clock's waits wake on it.
        self.changed = asyncio.Event()
        self._ready_seconds = 0.0
        self._since = 0.0

    def apply(self, event: ReplicaEvent) -> None:
        """Take one replica event into account."""
        t = event.time
        if t > self._since:
            self._ready_seconds += self.ready * (t - self._since)
            self._since = t
        if type(event) is PodEvent:
            pods, pod, phase = self.pods, event.pod, event.phase
            old = pods.get(pod)
            if old is not phase:
                self._count(old, -1)
                self._count(phase, 1)
            if phase is None:
                pods.pop(pod, None)
            else:
                pods[pod] = phase
        else:
            self.pods = dict(event.pods)
            self.ready = self.pending = self.terminating = 0
            for phase in self.pods.values():
                self._count(phase, 1)
        self.resource_version = event.resource_version or self.resource_version
        self.last_event_time = t
        self.changed.set()

    # Identity tests: an Enum's hash is computed in Python and would dominate a simulated step.
    def _count(self, phase: PodPhase | None, by: int) -> None:
        if phase is PodPhase.READY:
            self.ready += by
        elif phase is PodPhase.PENDING:
            self.pending += by
        elif phase is PodPhase.TERMINATING:
            self.terminating += by

    def settled(self, target: int) -> bool:
        """True when exactly ``target`` replicas are ready and none is pending or terminating."""
        return self.ready == target and not self.pending and not self.terminating

    def ready_seconds(self, t: float) -> float:
        """Integral of the ready-replica count from the start up to time ``t``."""
        return self._ready_seconds + self.ready * max(0.0, t - self._since)

    def restart(self, t: float) -> None:
        """Start the integral again at time ``t`` (a new simulated world begins at ``t``)."""
        self._ready_seconds = 0.0
        self._since = t
