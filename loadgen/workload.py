"""Workload specs that vary by seed: ranges, choices, ``random``, and mixtures of families.

A spec may give a parameter as

* a value: ``period=600``;
* a range ``a..b``, drawn uniformly: ``period=300..900``; ``a..b:log`` draws log-uniformly
  (``rate=1..100:log``); an integer parameter draws an integer in ``[a, b]``;
* a choice ``a|b|c``, each equally likely: ``period=300|600|900``;
* ``random`` where the parameter allows it: a phase or time of day (a fraction of the
  period), the ``key`` that fixes a family's random events, a trace ``offset``.

``rates=`` lists take a range or a choice per element (``rates=1..10/20..60``). A
``mix:`` spec draws one family per episode: ``mix:sine|flash|onoff`` (each name stands for
its family's default ranges), with weights ``mix:sine*2|flash|onoff``, and with a member's
own spec in parentheses ``mix:(sine:period=60..600,low=1,high=30)*2|onoff``.

:func:`draw_profile` turns a spec and a seed into a concrete profile, from a random
stream of its own (spawned from the seed, so independent of the simulator's arrival,
replica and noise streams): the simulator and the Locust load generator get the same
workload for the same seed. The concrete profile's ``spec`` parses back to it. A spec
without ranges draws the same profile for every seed.

This module has no Locust import.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from loadgen.bounds import LOAD_BOUNDS
from loadgen.families import FAMILIES, Family, Param
from loadgen.shapes import Profile, ProfileError
from loadgen.values import MAX_CORNERS, Fixed, Random, Value, parse_value

__all__ = ["MIX", "FixedWorkload", "MixWorkload", "SpecWorkload", "Workload", "as_workload", "draw_profile",
           "parse_workload"]

MIX = "mix"
#: The spawn key of the draws' stream: the simulator's streams are children 0, 1, 2 of the same seed.
_STREAM = (0x6C6F6164,)


class Workload(Protocol):
    """A spec, ready to draw concrete profiles from."""

    @property
    def spec(self) -> str: ...

    @property
    def fixed(self) -> bool:
        """True when every seed draws the same profile."""
        ...

    @property
    def peak(self) -> float:
        """The highest peak among the profiles tried when the spec was checked (a guide for plots)."""
        ...

    def draw(self, seed: int | None) -> Profile: ...

    def draw_with(self, rng: np.random.Generator) -> Profile: ...


def _rng(seed: int | None) -> np.random.Generator:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ProfileError(f"a workload seed must be an integer >= 0 or None, got {seed!r}")
    return np.random.default_rng(np.random.SeedSequence(None if seed is None else int(seed), spawn_key=_STREAM))


# -- one family -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpecWorkload:
    """One family with a value (or a distribution) for each of its parameters."""

    family: Family
    values: tuple[tuple[Param, Value], ...]
    spec: str
    peak: float = 0.0
    profile: Profile | None = field(default=None, repr=False)  # the one profile of a fixed spec

    @property
    def fixed(self) -> bool:
        return self.profile is not None

    def draw(self, seed: int | None) -> Profile:
        return self.profile if self.profile is not None else self.draw_with(_rng(seed))

    def draw_with(self, rng: np.random.Generator) -> Profile:
        if self.profile is not None:
            return self.profile
        given: dict[str, Any] = {}
        for param, value in self.values:  # in the family's order, so the draws do not depend on the spec's
            given[param.attr] = value.draw(rng, param, given)
        try:
            return self.family.build(**given)
        except ProfileError as e:  # a combination inside the ranges that the check did not try
            drawn = ", ".join(f"{p.key}={given[p.attr]!r}" for p, v in self.values if not isinstance(v, Fixed))
            raise ProfileError(f"profile spec {self.spec!r} drew {drawn}: {e}") from None

    def checked(self) -> SpecWorkload:
        """This workload with its peak (and its profile, if fixed), once every combination of
        range ends and choices builds a valid profile; otherwise a ProfileError naming it."""
        corners = [[(p, c) for c in v.corners(p)] for p, v in self.values]
        peak = 0.0
        profile: Profile | None = None
        for combination in itertools.islice(itertools.product(*corners), MAX_CORNERS):
            given = {p.attr: c for p, c in combination}
            try:
                profile = self.family.build(**given)
            except ProfileError as e:
                drawn = [f"{p.key}={c!r}" for (p, c), (_, v) in zip(combination, self.values) if not isinstance(v, Fixed)]
                if not drawn:
                    raise ProfileError(f"profile spec {self.spec!r}: {e}") from None
                raise ProfileError(
                    f"profile spec {self.spec!r}: its ranges allow {', '.join(drawn)}, which is not valid: {e}"
                ) from None
            peak = max(peak, profile.peak)
        # Each parameter is bounded alone; the peak they make together must fit too.
        problem = LOAD_BOUNDS["rate"].problem("peak rate", peak)
        if problem is not None:
            raise ProfileError(f"profile spec {self.spec!r}: {problem}")
        fixed = all(isinstance(v, Fixed) for _, v in self.values)
        return SpecWorkload(self.family, self.values, self.spec, peak, profile if fixed else None)


def _parse_family(spec: str, kind: str, rest: str) -> SpecWorkload:
    family = FAMILIES.get(kind)
    if family is None:
        known = ", ".join((*FAMILIES, MIX))
        raise ProfileError(f"profile spec {spec!r}: unknown kind {kind!r}; known: {known}")
    where = f"profile spec {spec!r}"
    by_key = {p.key: p for p in family.params}
    given: dict[str, Value] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, text = part.partition("=")
        param = by_key.get(key.strip().lower())
        if not eq or param is None:
            raise ProfileError(f"{where}: bad part {part!r}; {kind} takes {', '.join(k + '=' for k in by_key)}")
        given[param.key] = parse_value(text.strip(), param, where)
    missing = [p.key for p in family.params if p.required and p.key not in given]
    if missing:
        raise ProfileError(f"{where}: missing {', '.join(k + '=' for k in missing)}")
    values = tuple(
        (p, given[p.key] if p.key in given else Random())
        for p in family.params
        if p.key in given or p.random_by_default
    )
    return SpecWorkload(family, values, spec).checked()


# -- a mixture of families ----------------------------------------------------------------


@dataclass(frozen=True)
class MixWorkload:
    """Draws one member per episode, by weight, then that member's parameters."""

    members: tuple[SpecWorkload, ...]
    weights: tuple[float, ...]
    spec: str

    @property
    def fixed(self) -> bool:
        return len(self.members) == 1 and self.members[0].fixed

    @property
    def peak(self) -> float:
        return max(m.peak for m in self.members)

    def draw(self, seed: int | None) -> Profile:
        return self.draw_with(_rng(seed))

    def draw_with(self, rng: np.random.Generator) -> Profile:
        u = rng.random()
        choice = next((i for i, edge in enumerate(itertools.accumulate(self.weights)) if u < edge), len(self.members) - 1)
        return self.members[choice].draw_with(rng)


_MEMBER = re.compile(r"\s*(?:\((?P<spec>.*)\)|(?P<name>[A-Za-z]+))\s*(?:\*\s*(?P<weight>[^*]*))?\s*", re.S)


def _split_members(spec: str, rest: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in rest:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            raise ProfileError(f"profile spec {spec!r}: a ')' closes no '('")
        if ch == "|" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if depth:
        raise ProfileError(f"profile spec {spec!r}: a '(' is not closed")
    return [*parts, current]


def _parse_mix(spec: str, rest: str) -> MixWorkload:
    members: list[SpecWorkload] = []
    weights: list[float] = []
    for text in _split_members(spec, rest):
        match = _MEMBER.fullmatch(text)
        if match is None or not text.strip():
            raise ProfileError(f"profile spec {spec!r}: bad mix member {text.strip()!r}; "
                               f"write a family name or (spec), optionally *weight")
        inner = match["spec"]
        if inner is None:
            name = match["name"].lower()
            family = FAMILIES.get(name)
            if family is None:
                raise ProfileError(f"profile spec {spec!r}: unknown kind {name!r} in the mix; known: {', '.join(FAMILIES)}")
            if family.mix_default is None:
                raise ProfileError(f"profile spec {spec!r}: a {name} member needs its own spec, e.g. "
                                   f"({name}:path=FILE,offset=random)")
            inner = family.mix_default
        member = parse_workload(inner)
        if not isinstance(member, SpecWorkload):
            raise ProfileError(f"profile spec {spec!r}: a mix member cannot be a mix")
        try:
            weight = float(match["weight"]) if match["weight"] is not None else 1.0
        except ValueError:
            weight = math.nan
        if not (math.isfinite(weight) and weight > 0):
            raise ProfileError(f"profile spec {spec!r}: mix weight {match['weight']!r} must be a number > 0")
        members.append(member)
        weights.append(weight)
    total = sum(weights)
    return MixWorkload(tuple(members), tuple(w / total for w in weights), spec)


# -- entry points -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FixedWorkload:
    """A concrete profile given as it is: every seed draws it."""

    profile: Profile

    @property
    def spec(self) -> str:
        return self.profile.spec

    @property
    def fixed(self) -> bool:
        return True

    @property
    def peak(self) -> float:
        return self.profile.peak

    def draw(self, seed: int | None) -> Profile:
        return self.profile

    def draw_with(self, rng: np.random.Generator) -> Profile:
        return self.profile


def parse_workload(spec: str) -> SpecWorkload | MixWorkload:
    """Parse a spec, ranged or not (see the module docstring).

    Raises :class:`ProfileError` naming the bad part: an unknown family or key, a missing
    key, a bad value or range (``5..1``), or ranges that allow an invalid profile.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ProfileError(f"profile spec must be a non-empty string like 'constant:rate=10', got {spec!r}")
    spec = spec.strip()
    kind, _, rest = spec.partition(":")
    kind = kind.strip().lower()
    if kind == MIX:
        return _parse_mix(spec, rest)
    return _parse_family(spec, kind, rest)


def as_workload(workload: str | Workload | Profile) -> Workload:
    """A spec parsed, a workload as it is, a concrete profile as a fixed workload."""
    if isinstance(workload, str):
        return parse_workload(workload)
    if isinstance(workload, (SpecWorkload, MixWorkload, FixedWorkload)):
        return workload
    return FixedWorkload(workload)  # type: ignore[arg-type]


def draw_profile(workload: str | Workload | Profile, seed: int | None) -> Profile:
    """The concrete profile that ``seed`` draws from a spec (or a parsed workload).

    The same spec and seed always give the same profile, in any process; ``seed=None``
    draws from fresh entropy. A concrete profile is returned as it is. To draw many, parse
    the spec once (:func:`parse_workload`) and call its ``draw(seed)``: a draw then costs
    tens of microseconds, a parse up to a few milliseconds.
    """
    return as_workload(workload).draw(seed)
