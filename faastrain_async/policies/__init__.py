"""Scaling policies: a small interface and the built-in ones, made from a spec string.

A spec is ``name`` or ``name:key=value,...``, for example ``threshold:target=0.6``.
"""

from __future__ import annotations

from collections.abc import Callable

from faastrain_async.config import EnvSettings
from faastrain_async.errors import ConfigError
from faastrain_async.policies.base import Policy, parse_spec
from faastrain_async.policies.simple import HoldPolicy, RandomPolicy, ThresholdPolicy

PolicyFactory = Callable[[EnvSettings, dict[str, str]], Policy]

#: name -> factory(settings, options); extend with :func:`register_policy`.
POLICIES: dict[str, PolicyFactory] = {
    "random": RandomPolicy.from_options,
    "hold": HoldPolicy.from_options,
    "threshold": ThresholdPolicy.from_options,
}


def register_policy(name: str, factory: PolicyFactory) -> None:
    """Make ``name`` known to :func:`make_policy` (and so to the CLI)."""
    POLICIES[name] = factory


def make_policy(spec: str, settings: EnvSettings) -> Policy:
    """Build the policy ``spec`` names for an env with ``settings``."""
    name, options = parse_spec(spec)
    if name not in POLICIES:
        raise ConfigError(f"unknown policy {name!r} in {spec!r}; known: {', '.join(sorted(POLICIES))}")
    return POLICIES[name](settings, options)


__all__ = ["Policy", "POLICIES", "make_policy", "register_policy", "parse_spec"]
