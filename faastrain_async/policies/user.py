"""A user's policy class: ``py:module:Class`` (or ``module:Class``), with ``key=value`` options.

``module`` is a dotted module name that Python can import (an installed package, a module on
``PYTHONPATH``, or one in the current directory); ``Class`` is a class (or any callable) in it.
It is built as ``Class.from_options(settings, options)`` when it has that classmethod (as the
built-in policies do), otherwise as ``Class(settings, **options)`` (the options are strings).
The result must have ``reset(seed)`` and ``act(obs, info)``; its ``name`` defaults to the spec.

    class Doubling:
        def __init__(self, settings, step="1"):
            self.settings, self.step = settings, int(step)
        def reset(self, seed=None): ...
        def act(self, obs, info): return self.settings.max_delta + self.step   # always scale up

    faastrain bench --policy py:mypolicies:Doubling,step=2
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from typing import Any

from faastrain_async.config import EnvSettings
from faastrain_async.errors import ConfigError
from faastrain_async.policies.base import Policy

_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def looks_like_class(name: str, options: dict[str, str]) -> bool:
    """True when a spec's ``name`` and first option read as ``module:Class``."""
    return bool(_MODULE.match(name)) and bool(_NAME.match(options.get("value", "")))


def _import(module: str, spec: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name is None or not module.startswith(e.name):
            raise  # the module exists, but something it imports does not: its own error
        here = os.getcwd()
        if here not in sys.path:
            # A module beside the user, as `python -m` would find it.
            sys.path.append(here)
            return _import(module, spec)
        raise ConfigError(f"policy {spec}: cannot import module {module!r} (not installed, not on PYTHONPATH, not in the current directory)") from None


def user_policy(settings: EnvSettings, options: dict[str, str], spec: str | None = None) -> Policy:
    """The policy of ``py:module:Class`` (``options["value"]`` is ``module:Class``)."""
    target = options.pop("value", "")
    module, colon, cls_name = target.rpartition(":")
    spec = spec or "".join([f"py:{target}", *(f",{k}={v}" for k, v in options.items())])
    if not colon or not _MODULE.match(module) or not _NAME.match(cls_name):
        raise ConfigError(f"policy {spec}: expected py:module:Class (a dotted module name, then a class name), got {target!r}")
    cls = getattr(_import(module, spec), cls_name, None)
    if cls is None or not callable(cls):
        raise ConfigError(f"policy {spec}: module {module!r} has no class {cls_name!r}")
    factory = getattr(cls, "from_options", None)
    try:
        policy = factory(settings, dict(options)) if callable(factory) else cls(settings, **options)
    except TypeError as e:
        raise ConfigError(f"policy {spec}: {cls_name} could not be built with options {sorted(options)}: {e}") from None
    missing = [m for m in ("reset", "act") if not callable(getattr(policy, m, None))]
    if missing:
        raise ConfigError(f"policy {spec}: {cls_name} has no {' and no '.join(missing)} method; a policy needs reset(seed) and act(obs, info)")
    if not isinstance(getattr(policy, "name", None), str):
        try:
            policy.name = spec
        except AttributeError:
            raise ConfigError(f"policy {spec}: {cls_name} needs a str attribute name") from None
    return policy  # type: ignore[no-any-return]
