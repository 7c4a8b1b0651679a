"""What the engine knows about the function's replicas, fed only by replica events."""

from __future__ import annotations

import asyncio

from faastrain_async.events import PENDING, READY, TERMINATING, PodEvent, PodPhase, ReplicaEvent


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
        if isinstance(event, PodEvent):
            self._set(event.pod, event.phase)
        else:
            self.pods = {}
            self.ready = self.pending = self.terminating = 0
            for pod, phase in event.pods.items():
                self._set(pod, phase)
        if event.resource_version is not None:
            self.resource_version = event.resource_version
        self.last_event_time = t
        self.changed.set()

    # Identity tests, not a dict of counts: an Enum's hash is computed in Python, and this runs
    # twice for every replica a simulated step starts or stops.
    def _set(self, pod: str, phase: PodPhase | None) -> None:
        old = self.pods.get(pod)
        if old is phase:
            return
        if old is READY:
            self.ready -= 1
        elif old is PENDING:
            self.pending -= 1
        elif old is TERMINATING:
            self.terminating -= 1
        if phase is None:
            del self.pods[pod]
            return
        if phase is READY:
            self.ready += 1
        elif phase is PENDING:
            self.pending += 1
        else:
            self.terminating += 1
        self.pods[pod] = phase

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
