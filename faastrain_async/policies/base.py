"""The policy interface."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

import numpy as np

from faastrain_async.errors import ConfigError


class Policy(Protocol):
    """Chooses an action from an observation and the step's ``info``."""

    name: str

    def reset(self, seed: int | None = None) -> None:
        """Forget the past; a seed makes a random policy repeatable."""
        ...

    def act(self, obs: np.ndarray, info: Mapping[str, Any]) -> int:
        """The action to take next (an element of the env's action space)."""
        ...


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split ``name:key=value,...`` into the name and its options.

    A first part without ``=`` is the option ``value`` (``static:4``, ``model:run/ppo.zip``).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"policy spec must be a non-empty string like 'threshold:target=0.7', got {spec!r}")
    name, _, rest = spec.strip().partition(":")
    options: dict[str, str] = {}
    for i, part in enumerate(filter(None, (p.strip() for p in rest.split(",")))):
        key, eq, value = part.partition("=")
        if not eq and i == 0:
            options["value"] = part
            continue
        if not eq or not key.strip():
            raise ConfigError(f"policy spec {spec!r}: bad part {part!r}; expected key=value")
        options[key.strip()] = value.strip()
    return name.strip().lower(), options


N = TypeVar("N", float, int)


def _parse(options: dict[str, str], key: str, kind: type[N], spec: str) -> N:
    """Pop ``key`` from ``options`` as a ``kind`` (float or int)."""
    text = options.pop(key)
    try:
        return kind(text)
    except ValueError:
        raise ConfigError(f"policy {spec}: {key}={text!r} is not {'an integer' if kind is int else 'a number'}") from None


def take_float(options: dict[str, str], key: str, default: float, *, low: float = 0.0, spec: str) -> float:
    """Pop ``key`` from ``options`` as a float > ``low`` (or the default)."""
    if key not in options:
        return default
    value = _parse(options, key, float, spec)
    if not value > low:
        raise ConfigError(f"policy {spec}: {key}={value!r} must be > {low:g}")
    return value


def take_int(options: dict[str, str], key: str, *, low: int, high: int, spec: str) -> int | None:
    """Pop ``key`` from ``options`` as an integer in ``[low, high]`` (None when absent)."""
    if key not in options:
        return None
    value = _parse(options, key, int, spec)
    if not low <= value <= high:
        raise ConfigError(f"policy {spec}: {key}={value} must be an integer in [{low}, {high}] (the env's replica bounds)")
    return value


def no_more(options: dict[str, str], spec: str, known: str) -> None:
    """Raise for options nobody took."""
    if options:
        raise ConfigError(f"policy {spec}: unknown option(s) {', '.join(sorted(options))}; known: {known or 'none'}")
