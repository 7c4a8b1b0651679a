"""Scaling policies: a small interface and the built-in ones, made from a spec string.

A spec is ``name`` or ``name:key=value,...``, for example ``threshold:target=0.6``; a user's
class is ``py:module:Class`` or ``module:Class`` (:mod:`~faastrain_async.policies.user`).
"""

from __future__ import annotations

from collections.abc import Callable

from faastrain_async.config import EnvSettings
from faastrain_async.errors import ConfigError
from faastrain_async.policies.base import Policy, parse_spec
from faastrain_async.policies.baselines import BestStaticPolicy, HPAPolicy, KPAPolicy, OpenFaaSPolicy, StaticPolicy
from faastrain_async.policies.simple import HoldPolicy, RandomPolicy, ScriptPolicy, ThresholdPolicy
from faastrain_async.policies.user import looks_like_class, user_policy

PolicyFactory = Callable[[EnvSettings, dict[str, str]], Policy]


def _saved_model(settings: EnvSettings, options: dict[str, str]) -> Policy:
    # Imported here: the training package imports this one.
    from faastrain_async.training.model_policy import ModelPolicy

    return ModelPolicy.from_options(settings, options)


def _rllib_checkpoint(settings: EnvSettings, options: dict[str, str]) -> Policy:
    from faastrain_async.training.rllib_policy import rllib_policy

    return rllib_policy(settings, options)


#: name -> factory(settings, options); extend with :func:`register_policy`.
POLICIES: dict[str, PolicyFactory] = {
    "random": RandomPolicy.from_options,
    "hold": HoldPolicy.from_options,
    "script": ScriptPolicy.from_options,
    "threshold": ThresholdPolicy.from_options,
    "hpa": HPAPolicy.from_options,
    "kpa": KPAPolicy.from_options,
    "openfaas": OpenFaaSPolicy.from_options,
    "static": StaticPolicy.from_options,
    "best-static": BestStaticPolicy.from_options,
    # A trained Stable-Baselines3 model; SB3 is imported only when one is loaded.
    "model": _saved_model,
    # A trained RLlib checkpoint; Ray is imported only when one is loaded.
    "rllib": _rllib_checkpoint,
    # A user's class: py:module:Class.
    "py": user_policy,
}


def register_policy(name: str, factory: PolicyFactory) -> None:
    """Make ``name`` known to :func:`make_policy` (and so to the CLI)."""
    POLICIES[name] = factory


def make_policy(spec: str, settings: EnvSettings) -> Policy:
    """Build the policy ``spec`` names for an env with ``settings``."""
    name, options = parse_spec(spec)
    if name not in POLICIES and looks_like_class(spec.strip().partition(":")[0], options):
        # module:Class, the short form of py:module:Class (the module's own case kept).
        module = spec.strip().partition(":")[0]
        try:
            return user_policy(settings, {**options, "value": f"{module}:{options['value']}"}, spec)
        except ConfigError as e:
            raise ConfigError(f"unknown policy {name!r} in {spec!r} (known: {', '.join(sorted(POLICIES))}); as module:Class: {e}") from None
    if name not in POLICIES:
        raise ConfigError(f"unknown policy {name!r} in {spec!r}; known: {', '.join(sorted(POLICIES))}")
    return POLICIES[name](settings, options)


__all__ = ["Policy", "POLICIES", "make_policy", "register_policy", "parse_spec"]
