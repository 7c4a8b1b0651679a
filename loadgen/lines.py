"""The lines the load generator writes, as typed events.

The generator writes one JSON object per line (see :mod:`loadgen.stats` for the fields of a
``second`` line); :func:`parse_line` reads one back as a frozen dataclass. This module has no
Locust import, so asyncio code can use it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["LoadEnded", "LoadEvent", "LoadSecond", "LoadStarted", "parse_line"]


@dataclass(frozen=True, slots=True)
class LoadStarted:
    """The generator started; its schedule's time 0 is the unix second ``t0``."""

    t: float
    t0: int
    profile: str
    peak_rps: float
    seed: int
    arrivals: str
    duration: float | None
    workers: int
    url: str


@dataclass(frozen=True, slots=True)
class LoadSecond:
    """What happened in the unix second ``[t, t + 1)`` (see docs/loadgen.md, "Statistics")."""

    t: int
    elapsed: int
    target_rps: float
    scheduled: int
    achieved_rps: int
    ok: int
    failed: int
    failures: Mapping[str, int]
    late: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    users: int
    reporting: int


@dataclass(frozen=True, slots=True)
class LoadEnded:
    """The generator finished its run: totals over the whole run."""

    t: float
    sent: int
    failed: int


LoadEvent = LoadStarted | LoadSecond | LoadEnded
_KINDS: dict[str, type] = {"start": LoadStarted, "second": LoadSecond, "end": LoadEnded}


def parse_line(line: str | bytes) -> LoadEvent:
    """One JSON line of the generator as its typed event; ValueError if it is not one."""
    try:
        data = json.loads(line)
        kind = _KINDS[data.pop("event")]
        return kind(**data)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"unreadable load generator line {line!r}: {e!r}") from None
