"""The values a spec may give a parameter: a value, a range, a choice, ``random``, a list.

See :mod:`loadgen.workload` for the syntax. Each value draws a concrete value from a random
generator and names the corners (range ends, choices) that a spec check tries. This module
has no Locust import.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from loadgen.families import Param
from loadgen.noise import KEY_LIMIT
from loadgen.shapes import ProfileError
from loadgen.trace import cached_counts

__all__ = ["MAX_CORNERS", "Fixed", "Items", "OneOf", "Random", "Uniform", "Value", "parse_value"]

#: Significant digits a drawn number keeps, so that concrete specs stay readable.
_DIGITS = 4
#: Combinations of range ends and choices tried when a spec is checked.
MAX_CORNERS = 256


@dataclass(frozen=True)
class Fixed:
    """A value as it is: ``period=600``."""

    value: Any

    def draw(self, rng: np.random.Generator, param: Param, given: dict[str, Any]) -> Any:
        return self.value

    def corners(self, param: Param) -> list[Any]:
        return [self.value]


@dataclass(frozen=True)
class Uniform:
    """A range ``a..b`` (``a..b:log``: log-uniform); an integer parameter draws an integer in it."""

    low: float
    high: float
    log: bool

    def draw(self, rng: np.random.Generator, param: Param, given: dict[str, Any]) -> Any:
        if param.kind == "int":
            if self.log:
                return min(max(round(math.exp(rng.uniform(math.log(self.low), math.log(self.high)))), self.low), self.high)
            return int(rng.integers(int(self.low), int(self.high) + 1))
        x = math.exp(rng.uniform(math.log(self.low), math.log(self.high))) if self.log else rng.uniform(self.low, self.high)
        return min(max(float(f"{x:.{_DIGITS}g}"), self.low), self.high)

    def corners(self, param: Param) -> list[Any]:
        return [self.low, self.high]


@dataclass(frozen=True)
class OneOf:
    """A choice ``a|b|c``, each option equally likely."""

    options: tuple[Any, ...]

    def draw(self, rng: np.random.Generator, param: Param, given: dict[str, Any]) -> Any:
        return self.options[int(rng.integers(len(self.options)))]

    def corners(self, param: Param) -> list[Any]:
        return list(self.options)


@dataclass(frozen=True)
class Random:
    """``random``: a fraction in [0, 1), a key, or a trace interval, as the parameter says."""

    def draw(self, rng: np.random.Generator, param: Param, given: dict[str, Any]) -> Any:
        if param.random == "key":
            return int(rng.integers(KEY_LIMIT))
        if param.random == "interval":
            return int(rng.integers(len(cached_counts(str(given["path"])))))
        return float(f"{rng.random():.{_DIGITS}g}") % 1.0

    def corners(self, param: Param) -> list[Any]:
        return [0]


@dataclass(frozen=True)
class Items:
    """A ``rates=`` list whose elements may be ranges or choices."""

    items: tuple[Fixed | Uniform | OneOf, ...]

    def draw(self, rng: np.random.Generator, param: Param, given: dict[str, Any]) -> Any:
        return tuple(item.draw(rng, _ELEMENT, given) for item in self.items)

    def corners(self, param: Param) -> list[Any]:
        return list(itertools.islice(itertools.product(*(i.corners(_ELEMENT) for i in self.items)), MAX_CORNERS))


Value = Fixed | Uniform | OneOf | Random | Items
_ELEMENT = Param("rates", "rates")


def _truth(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


_CONVERT: dict[str, Any] = {"float": float, "int": int, "bool": _truth, "path": str, "rates": float}


def parse_value(text: str, param: Param, where: str) -> Value:
    """One parameter's value as written in a spec; ``where`` prefixes the errors."""
    if text == "random" and param.random is not None:
        return Random()
    if param.kind == "rates":
        items = tuple(_parse_single(x.strip(), param, where, text) for x in text.split("/"))
        if all(isinstance(i, Fixed) for i in items):
            return Fixed(tuple(i.value for i in items))  # type: ignore[union-attr]
        return Items(items)
    return _parse_single(text, param, where, text)


def _parse_single(text: str, param: Param, where: str, whole: str) -> Fixed | Uniform | OneOf:
    convert = _CONVERT[param.kind]
    try:
        if "|" in text:
            return OneOf(tuple(convert(x.strip()) for x in text.split("|")))
        if ".." in text and param.kind in ("float", "int", "rates"):
            body, log = (text[:-4], True) if text.endswith(":log") else (text, False)
            low, _, high = body.partition("..")
            a, b = convert(low.strip()), convert(high.strip())
        else:
            return Fixed(convert(text))
    except ValueError:
        raise ProfileError(f"{where}: {param.key}={whole!r} is not a valid value") from None
    if not (math.isfinite(a) and math.isfinite(b)) or a > b:
        raise ProfileError(f"{where}: bad range {param.key}={text}: the low end must not exceed the high end")
    if log and a <= 0:
        raise ProfileError(f"{where}: bad range {param.key}={text}: a log range needs a low end > 0")
    return Uniform(a, b, log)
