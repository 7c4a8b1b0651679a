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
    diurnal:low=1,high=40[,period=86400,peak=0.6,sharpness=2]
    trace:path=FILE[,interval=30,scale=1,compress=1,loop=1]

``rate`` accepts a float or a numpy array of times and answers in kind. The shapes live in
:mod:`loadgen.shapes`, trace replay in :mod:`loadgen.trace`; this module parses specs and is
the one to import from.
"""

from __future__ import annotations

from loadgen.shapes import Constant, Diurnal, Profile, ProfileError, Sawtooth, Sine, Square, Steps
from loadgen.trace import Trace, load_trace

__all__ = [
    "Profile",
    "ProfileError",
    "Constant",
    "Sine",
    "Square",
    "Sawtooth",
    "Steps",
    "Diurnal",
    "Trace",
    "load_trace",
    "parse_profile",
    "PROFILE_KINDS",
]

def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _rates(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split("/"))


_KINDS: dict[str, tuple[type, dict[str, tuple[str, object]], tuple[str, ...]]] = {
    "constant": (Constant, {"rate": ("rate_", float)}, ("rate",)),
    "sine": (
        Sine,
        {"period": ("period", float), "low": ("low", float), "high": ("high", float), "phase": ("phase", float)},
        ("period", "low", "high"),
    ),
    "square": (
        Square,
        {"period": ("period", float), "low": ("low", float), "high": ("high", float), "duty": ("duty", float)},
        ("period", "low", "high"),
    ),
    "sawtooth": (
        Sawtooth,
        {"period": ("period", float), "low": ("low", float), "high": ("high", float)},
        ("period", "low", "high"),
    ),
    "steps": (
        Steps,
        {"rates": ("rates", _rates), "hold": ("hold", float), "loop": ("loop", _bool)},
        ("rates", "hold"),
    ),
    "diurnal": (
        Diurnal,
        {
            "low": ("low", float),
            "high": ("high", float),
            "period": ("period", float),
            "peak": ("peak_at", float),
            "sharpness": ("sharpness", float),
        },
        ("low", "high"),
    ),
    "trace": (
        Trace,
        {
            "path": ("path", str),
            "interval": ("interval", float),
            "scale": ("scale", float),
            "compress": ("compress", float),
            "loop": ("loop", _bool),
        },
        ("path",),
    ),
}

PROFILE_KINDS: tuple[str, ...] = tuple(_KINDS)


def parse_profile(spec: str) -> Profile:
    """Build a profile from a spec such as ``sine:period=600,low=2,high=40``.

    Raises :class:`ProfileError` naming the bad part: an unknown kind, an unknown or
    missing key, a value that is not a number, or a value out of range.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ProfileError(f"profile spec must be a non-empty string like 'constant:rate=10', got {spec!r}")
    kind, _, rest = spec.strip().partition(":")
    kind = kind.strip().lower()
    if kind not in _KINDS:
        raise ProfileError(f"profile spec {spec!r}: unknown kind {kind!r}; known: {', '.join(PROFILE_KINDS)}")
    cls, keys, required = _KINDS[kind]
    kwargs: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, text = part.partition("=")
        key = key.strip().lower()
        if not eq or key not in keys:
            raise ProfileError(
                f"profile spec {spec!r}: bad part {part!r}; {kind} takes {', '.join(k + '=' for k in keys)}"
            )
        arg, convert = keys[key]
        try:
            kwargs[arg] = convert(text.strip())  # type: ignore[operator]
        except ValueError:
            raise ProfileError(f"profile spec {spec!r}: {key}={text.strip()!r} is not a valid value") from None
    missing = [k for k in required if keys[k][0] not in kwargs]
    if missing:
        raise ProfileError(f"profile spec {spec!r}: missing {', '.join(k + '=' for k in missing)}")
    try:
        if kind == "trace":
            path = kwargs.pop("path")
            return Trace.from_file(str(path), **kwargs)  # type: ignore[arg-type]
        return cls(**kwargs)
    except ProfileError as e:
        raise ProfileError(f"profile spec {spec!r}: {e}") from None
