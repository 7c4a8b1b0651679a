"""Kubernetes resource quantities ("250m", "12345678n", "64Mi") as numbers."""

from __future__ import annotations

import re

from faastrain_async.errors import ConfigError

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([a-zA-Z]*)$")
_SUFFIX = {
    "n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40,
}


def parse_quantity(text: str, what: str = "quantity") -> float:
    """``text`` in base units (cores, bytes); ConfigError naming ``what`` when it is not a quantity."""
    match = _QUANTITY.match(text.strip()) if isinstance(text, str) else None
    if match is None or match.group(2) not in _SUFFIX:
        raise ConfigError(f"{what} {text!r} is not a Kubernetes quantity (e.g. 250m, 1234567n, 64Mi, 1Gi)")
    return float(match.group(1)) * _SUFFIX[match.group(2)]
