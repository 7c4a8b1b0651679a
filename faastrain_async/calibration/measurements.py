"""What a calibration measured: plain records, written to the file's ``measurements`` section.

The experiment (:mod:`.experiment`) produces them from a live function; the fitting
(:mod:`.fit`) reads them and nothing else, so a fit can be checked on synthetic records and
re-run on a file's own measurements.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from faastrain_async.errors import ConfigError


@dataclass(frozen=True)
class Facts:
    """What the function's Deployment declares, and the client's patience."""

    cpu_request_cores: float
    memory_request_mib: float
    #: terminationGracePeriodSeconds of the pods.
    grace_period_s: float
    #: Seconds the load generator waits for an answer before it counts a timeout.
    load_timeout_s: float


@dataclass(frozen=True)
class Probe:
    """Requests sent one at a time to an otherwise idle function."""

    #: Each request's latency as the client saw it (seconds).
    latencies_s: tuple[float, ...]
    #: The gateway's mean execution time of those requests (what the env observes), if read.
    gateway_mean_s: float | None


@dataclass(frozen=True)
class Burst:
    """Requests sent at once to one replica: how many it took and what the rest got."""

    #: (outcome, latency seconds) per request; outcome "200", another status, or "timeout" /
    #: "connection".
    results: tuple[tuple[str, float], ...]

    @property
    def accepted(self) -> int:
        return sum(1 for outcome, _ in self.results if outcome == "200")


@dataclass(frozen=True)
class Usage:
    """CPU and memory per pod with ``replicas`` ready and no load, as the backend reads them."""

    replicas: int
    cpu_cores: tuple[float, ...]
    memory_mib: tuple[float, ...]


@dataclass(frozen=True)
class Level:
    """One offered rate held at a fixed replica count (rates in requests per second)."""

    replicas: int
    #: What the profile asked for, the arrivals its seeded schedule held (Poisson around it),
    #: and what the load generator sent.
    offered_rps: float
    scheduled_rps: float
    sent_rps: float
    #: Completed with 200, and failed by kind ("status_429", "timeout", "status_504", ...).
    ok_rps: float
    failures_rps: dict[str, float]
    #: Medians over the level's seconds of the per-second latency percentiles of every
    #: completed request (successes and failures), from the load generator.
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    #: The gateway's mean execution time of the successful calls (what the env observes).
    gateway_mean_s: float | None
    #: Mean CPU (cores) and memory (MiB) per pod over the level, as the backend reads them.
    cpu_cores: float | None
    memory_mib: float | None
    #: Seconds measured (the level's hold minus its warm-up).
    seconds: float

    @property
    def failed_rps(self) -> float:
        return sum(self.failures_rps.values())


@dataclass(frozen=True)
class Transition:
    """One pod's time from a scale request to Ready (a cold start) or to deleted (a drain)."""

    from_replicas: int
    to_replicas: int
    seconds: float


@dataclass(frozen=True)
class Measurements:
    """Everything one calibration measured."""

    facts: Facts
    probe: Probe
    bursts: tuple[Burst, ...] = ()
    idle: tuple[Usage, ...] = ()
    levels: tuple[Level, ...] = ()
    cold_starts: tuple[Transition, ...] = ()
    terminations: tuple[Transition, ...] = ()
    #: Highest rate the load generator kept up with, when it fell behind (req/s); None: it never did.
    load_limit_rps: float | None = None
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Any, where: str = "measurements") -> Measurements:
        """The records of a file's ``measurements`` section; ConfigError naming what is wrong."""
        try:
            return cls(
                facts=Facts(**data["facts"]),
                probe=Probe(tuple(data["probe"]["latencies_s"]), data["probe"]["gateway_mean_s"]),
                bursts=tuple(Burst(tuple((str(o), float(t)) for o, t in b["results"])) for b in data["bursts"]),
                idle=tuple(Usage(u["replicas"], tuple(u["cpu_cores"]), tuple(u["memory_mib"])) for u in data["idle"]),
                levels=tuple(Level(**level) for level in data["levels"]),
                cold_starts=tuple(Transition(**t) for t in data["cold_starts"]),
                terminations=tuple(Transition(**t) for t in data["terminations"]),
                load_limit_rps=data["load_limit_rps"],
                notes=tuple(data["notes"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"{where}: not a record of a calibration's measurements ({e!r})") from None
