"""The plan of one run: its arrival schedule (profile, seed, this process's share) and start time.

The master (or the single local process) makes the plan when the test starts and sends it to
every worker, each with its own ``share`` of the same
:class:`~loadgen.schedule.ArrivalSchedule`. A replayed trace travels as its counts, so
workers on other machines need no copy of the trace file.

This module has no Locust import.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from loadgen.profiles import Profile, Trace, parse_profile
from loadgen.schedule import ArrivalSchedule

__all__ = ["Plan", "profile_to_wire", "profile_from_wire"]


def profile_to_wire(profile: Profile) -> dict[str, Any]:
    """A plain dict that rebuilds ``profile`` on another machine."""
    if isinstance(profile, Trace):
        return {
            "trace": list(profile.counts),
            "interval": profile.interval,
            "scale": profile.scale,
            "compress": profile.compress,
            "loop": profile.loop,
            "source": profile.source,
            "offset": profile.offset,
        }
    return {"spec": profile.spec}


def profile_from_wire(data: dict[str, Any]) -> Profile:
    """Inverse of :func:`profile_to_wire`."""
    if "trace" in data:
        return Trace(
            tuple(float(c) for c in data["trace"]),
            interval=float(data["interval"]),
            scale=float(data["scale"]),
            compress=float(data["compress"]),
            loop=bool(data["loop"]),
            source=str(data["source"]),
            offset=int(data.get("offset", 0)),
        )
    return parse_profile(str(data["spec"]))


@dataclass(frozen=True)
class Plan:
    """What one process needs to send its share of a run: its share of the arrival schedule,
    and ``t0``, the unix second at which the schedule's time 0 falls (a whole second, so the
    schedule's seconds are the statistics' seconds)."""

    schedule: ArrivalSchedule
    t0: int

    def whole(self) -> ArrivalSchedule:
        """The arrival schedule of the whole run (all shares)."""
        return replace(self.schedule, share=0, shares=1)

    def for_share(self, share: int, shares: int) -> Plan:
        """The same plan for worker ``share`` of ``shares``."""
        return replace(self, schedule=replace(self.schedule, share=share, shares=shares))

    def to_wire(self) -> dict[str, Any]:
        """A plain dict for a Locust message."""
        s = self.schedule
        return {
            "profile": profile_to_wire(s.profile),
            "t0": self.t0,
            "seed": s.seed,
            "arrivals": s.arrivals,
            "duration": s.duration,
            "share": s.share,
            "shares": s.shares,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Plan:
        """Inverse of :meth:`to_wire`."""
        duration = data["duration"]
        schedule = ArrivalSchedule(
            profile_from_wire(data["profile"]),
            seed=int(data["seed"]),
            arrivals=str(data["arrivals"]),
            duration=None if duration is None else float(duration),
            share=int(data["share"]),
            shares=int(data["shares"]),
        )
        return cls(schedule, t0=int(data["t0"]))
