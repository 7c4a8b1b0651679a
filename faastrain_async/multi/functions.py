"""Each function's share of the multi-agent environment's arguments, and its backend.

Settings given once apply to every function; a mapping keyed by function names gives each
its own (``profiles={"fn-a": "sine:...", "fn-b": "constant:rate=5"}``,
``sim={"fn-a": {"service_time": 0.1}, "fn-b": {...}}``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from faastrain_async.backends import sim_settings
from faastrain_async.config import SimSettings, build_settings, dns_label
from faastrain_async.errors import ConfigError
from loadgen.profiles import Profile, Workload


def function_names(functions: Sequence[str]) -> tuple[str, ...]:
    """The agents' names: unique function names (DNS-1123 labels), at least one."""
    if isinstance(functions, str) or not isinstance(functions, Sequence) or not functions:
        raise ConfigError(f"functions={functions!r} is not valid: give a list of function names, such as ['fn-a', 'fn-b']")
    names = tuple(dns_label("function name", name) for name in functions)
    if len(set(names)) != len(names):
        raise ConfigError(f"functions={list(names)!r} is not valid: names must be unique")
    return names


def _keyed(value: object, functions: tuple[str, ...]) -> bool:
    """True when ``value`` is a mapping from (some of) the function names to their own values."""
    return (
        isinstance(value, Mapping) and bool(value)
        and all(key in functions for key in value)
        and all(isinstance(v, Mapping) or dataclasses.is_dataclass(v) for v in value.values())
    )  # fmt: skip


def per_function(value: Any, functions: tuple[str, ...]) -> dict[str, Any]:
    """Each function's value: its own from a mapping keyed by function names (None for those
    it leaves out), else ``value`` itself for all."""
    if _keyed(value, functions):
        return {name: value.get(name) for name in functions}
    return dict.fromkeys(functions, value)


def profiles_of(
    profiles: str | Workload | Profile | Mapping[str, str | Workload | Profile], functions: tuple[str, ...]
) -> dict[str, str | Workload | Profile]:
    """Each function's workload profile: one for all, or one per function (all named)."""
    if not isinstance(profiles, Mapping):
        return dict.fromkeys(functions, profiles)
    unknown = sorted(set(profiles) - set(functions))
    missing = [name for name in functions if name not in profiles]
    if unknown or missing:
        raise ConfigError(
            f"profiles must name each function once (functions: {', '.join(functions)}); "
            + "; ".join(part for part in (unknown and f"unknown: {', '.join(unknown)}", missing and f"missing: {', '.join(missing)}") if part)
        )
    return {name: profiles[name] for name in functions}


def sim_settings_of(sim: Any, functions: tuple[str, ...], cores: float | None) -> dict[str, SimSettings]:
    """Each function's simulator settings; ``cores`` (the node's) goes into all of them."""
    settings = {name: sim_settings(value) for name, value in per_function(sim, functions).items()}
    if cores is None:
        return settings
    for name, s in settings.items():
        if s.cores is not None and s.cores != cores:
            raise ConfigError(f"cores={cores!r} (the node's) differs from sim cores={s.cores!r} of function {name!r}; give one of them")
    return {name: dataclasses.replace(s, cores=cores) for name, s in settings.items()}


def kubernetes_settings_of(kubernetes: Any, functions: tuple[str, ...]) -> dict[str, Any]:
    """Each function's Kubernetes settings (mappings), ``function`` set to the agent's name."""
    from faastrain_async.backends.kubernetes import KubernetesSettings

    out = {}
    for name, value in per_function(kubernetes, functions).items():
        if value is not None and not isinstance(value, Mapping):
            raise ConfigError(f"kubernetes settings of a multi-agent env must be mappings, got {type(value).__name__}")
        options = dict(value or {})
        if options.setdefault("function", name) != name:
            raise ConfigError(
                f"kubernetes function={options['function']!r} is not valid here: each agent scales the function of its name ({name!r})"
            )
        out[name] = build_settings(KubernetesSettings, options, "kubernetes")
    return out
