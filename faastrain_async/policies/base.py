"""The policy interface."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

import numpy as np

from faastrain_async.config import EnvSettings
from faastrain_async.env.spaces import OBSERVATION_FIELDS
from faastrain_async.errors import ConfigError

#: Indices into the observation (see spaces.OBSERVATION_FIELDS).
EXEC, THROUGHPUT, REQUESTS, REPLICAS, CPU = (
    OBSERVATION_FIELDS.index(name) for name in ("exec_time_s", "throughput_pct", "requests", "replicas", "cpu_util")
)


class Policy(Protocol):
    """Chooses an action from an observation and the step's ``info``."""

    name: str

    def reset(self, seed: int | None = None) -> None:
        """Forget the past; a seed makes a random policy repeatable."""
        ...

    def act(self, obs: np.ndarray, info: Mapping[str, Any]) -> int:
        """The action to take next (an element of the env's action space)."""
        ...


def current_replicas(obs: np.ndarray, info: Mapping[str, Any]) -> int:
    """The replica count a policy scales from: the env's current target (else the ready count)."""
    if "target" in info:
        return int(info["target"])
    return int(round(float(obs[REPLICAS])))


def clamp(n: int, settings: EnvSettings) -> int:
    return min(max(n, settings.min_replicas), settings.max_replicas)


def proportional(current: int, value: float, target: float, tolerance: float, settings: EnvSettings) -> int:
    """The HPA rule: ``ceil(current · value / target)``, unchanged while ``|value / target − 1| <=
    tolerance``, clamped to the replica bounds."""
    ratio = value / target
    if abs(ratio - 1.0) <= tolerance:
        return current
    return clamp(math.ceil(current * ratio - 1e-9), settings)


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
