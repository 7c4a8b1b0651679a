"""The workload families a spec can name, and the parameters each takes.

One table: for every family, its profile class, its parameters (the key a spec writes, the
argument it sets, its type, whether it must be given, what ``random`` means for it) and the
ranged spec a bare name stands for in a ``mix:``. :mod:`loadgen.workload` parses specs with
it. This module has no Locust import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loadgen.azure import AzureLike
from loadgen.bursts import Flash, OnOff, Steady
from loadgen.shapes import Constant, Diurnal, Profile, Sawtooth, Sine, Square, Step, Steps
from loadgen.trace import Trace

__all__ = ["FAMILIES", "Family", "Param"]

#: What ``random`` stands for: a fraction in [0, 1), a key in [0, 2**32), an interval of the trace.
RANDOM_MEANINGS = ("fraction", "key", "interval")


@dataclass(frozen=True)
class Param:
    """One parameter of a family."""

    key: str
    #: The profile's constructor argument.
    attr: str
    #: ``float``, ``int``, ``bool``, ``path`` (a file; no ranges) or ``rates`` (numbers joined by ``/``).
    kind: str = "float"
    required: bool = False
    #: What ``random`` means for it (one of RANDOM_MEANINGS), or None when it cannot be random.
    random: str | None = None
    #: Random when the spec does not give it (the keys of the families with random events).
    random_by_default: bool = False


@dataclass(frozen=True)
class Family:
    """A workload family: how to build its profile and the parameters it takes."""

    name: str
    build: Callable[..., Profile]
    params: tuple[Param, ...]
    #: The ranged spec a bare name stands for in ``mix:``; None when the family needs a file.
    mix_default: str | None
    summary: str


def _required(*keys: str) -> tuple[Param, ...]:
    return tuple(Param(k, k, required=True) for k in keys)


_KEY = Param("key", "key", "int", random="key", random_by_default=True)
_WAVE = _required("period", "low", "high")


def _trace(path: str, **options: Any) -> Trace:
    return Trace.from_file(path, **options)


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("constant", Constant, (Param("rate", "rate_", required=True),), "constant:rate=2..60",
               "the same rate forever"),
        Family("sine", Sine, (*_WAVE, Param("phase", "phase", random="fraction")),
               "sine:period=120..900,low=1..5,high=20..60,phase=random", "a sine wave between low and high"),
        Family("square", Square, (*_WAVE, Param("duty", "duty", random="fraction")),
               "square:period=60..600,low=1..5,high=20..60,duty=0.2..0.8", "high for a duty share of each period, else low"),
        Family("sawtooth", Sawtooth, _WAVE, "sawtooth:period=60..600,low=0..5,high=20..60",
               "rises from low to high over each period"),
        Family("steps", Steps, (Param("rates", "rates", "rates", True), Param("hold", "hold", required=True),
                                Param("loop", "loop", "bool")),
               "steps:rates=1..60/1..60/1..60/1..60,hold=30..120", "a sequence of rates, each held for hold seconds"),
        Family("step", Step, _required("before", "after", "at"), "step:before=2..60,after=2..60,at=30..270",
               "one lasting change of rate at a time"),
        Family("diurnal", Diurnal, (*_required("low", "high"), Param("period", "period"),
                                    Param("peak", "peak_at", random="fraction"), Param("sharpness", "sharpness")),
               "diurnal:low=1..5,high=20..60,period=600..3600,peak=random", "a day-shaped cycle with one peak"),
        Family("trace", _trace, (Param("path", "path", "path", True), Param("interval", "interval"),
                                 Param("scale", "scale"), Param("compress", "compress"), Param("loop", "loop", "bool"),
                                 Param("offset", "offset", "int", random="interval")),
               None, "replay of a recorded trace file"),
        Family("steady", Steady, (Param("rate", "rate_", required=True), Param("noise", "noise"),
                                  Param("corr", "corr"), _KEY),
               "steady:rate=5..50,noise=0..0.3,corr=30..300", "a steady rate with slow random drift"),
        Family("flash", Flash, (*_required("base", "height", "every", "length"), Param("rise", "rise"), _KEY),
               "flash:base=1..10,height=10..50,every=120..600,length=20..120,rise=0..10",
               "flash crowds: sudden surges of random time, height and length"),
        Family("onoff", OnOff, (*_required("low", "high", "on", "off"), _KEY),
               "onoff:low=1..5,high=20..60,on=20..120,off=30..300",
               "on/off bursts: two levels with exponential sojourns"),
        Family("azure", AzureLike, (Param("mean", "mean", required=True), Param("swing", "swing"),
                                    Param("bursts", "bursts"), Param("height", "height"), Param("tail", "tail"),
                                    Param("top", "top"), Param("noise", "noise"), Param("day", "day"),
                                    Param("start", "start", random="fraction", random_by_default=True), _KEY),
               "azure:mean=2..40:log,day=600..3600", "an Azure-like synthetic per-minute trace"),
    )
}  # fmt: skip
