"""Workload profiles: the intended request rate as a function of time.

A profile answers one question, ``rate(t)``: how many requests per second should arrive
``t`` seconds after the workload started. The simulator draws Poisson arrivals around it
and the Locust load generator paces its users by it, so both share this one definition.
This module must never import Locust or gevent.

Profiles parse from short spec strings, as used on the command line::

    constant:rate=10
    sine:period=600,low=2,high=40[,phase=0]
    square:period=120,low=2,high=40[,duty=0.5]
    sawtooth:period=300,low=0,high=30
    steps:rates=5/20/10,hold=60[,loop=1]
    step:before=5,after=40,at=120
    diurnal:low=1,high=40[,period=86400,peak=0.6,sharpness=2]
    trace:path=FILE[,interval=30,scale=1,compress=1,loop=1,offset=0]
    steady:rate=10[,noise=0,corr=300,key=random]
    flash:base=5,height=40,every=600,length=60[,rise=0,key=random]
    onoff:low=2,high=40,on=60,off=240[,key=random]
    azure:mean=10[,swing=1.5,bursts=10,height=2,tail=1.5,top=50,noise=0.5,day=86400,start=random,key=random]
    mix:sine|flash|onoff

A parameter may be a range (``period=300..900``, ``rate=1..100:log``), a choice
(``period=300|600``) or ``random``; such a spec is a workload that :func:`draw_profile`
turns into a concrete profile for a seed (see :mod:`loadgen.workload`). ``rate`` accepts a
float or a numpy array of times and answers in kind. This module is the one to import from.
"""

from __future__ import annotations

from loadgen.azure import AzureLike
from loadgen.bursts import Flash, OnOff, Steady
from loadgen.families import FAMILIES
from loadgen.shapes import Constant, Diurnal, Profile, ProfileError, Sawtooth, Sine, Square, Step, Steps
from loadgen.trace import Trace, load_trace
from loadgen.workload import MIX, Workload, as_workload, draw_profile, parse_workload

__all__ = [
    "Profile",
    "ProfileError",
    "Workload",
    "Constant",
    "Sine",
    "Square",
    "Sawtooth",
    "Steps",
    "Step",
    "Diurnal",
    "Trace",
    "Steady",
    "Flash",
    "OnOff",
    "AzureLike",
    "load_trace",
    "parse_profile",
    "parse_workload",
    "as_workload",
    "draw_profile",
    "PROFILE_KINDS",
]

#: Every family a spec can name, and ``mix``.
PROFILE_KINDS: tuple[str, ...] = (*FAMILIES, MIX)


def parse_profile(spec: str) -> Profile:
    """Build the concrete profile of a spec without ranges, such as ``sine:period=600,low=2,high=40``.

    Raises :class:`ProfileError` naming the bad part: an unknown kind, an unknown or
    missing key, a value that is not a number, or a value out of range; and for a spec
    that draws (a range, a choice, ``random``, or a family whose ``key`` defaults to
    ``random``), says to draw it with a seed instead.
    """
    workload = parse_workload(spec)
    if not workload.fixed:
        raise ProfileError(
            f"profile spec {spec!r} draws its parameters from a seed (ranges, choices or random keys); "
            f"draw it with draw_profile(spec, seed) or --seed, or give every parameter (and key=N) a value"
        )
    return workload.draw(None)
