"""The calibration file: one JSON document that describes a function as the simulator does.

    {
      "format": "faastrain-calibration",
      "version": 1,
      "source": {"cluster": "local", "api_server": "http://127.0.0.1:40161", "function": "api",
                 "namespace": "openfaas-fn", "time": "2026-12-01T07:00:00Z",
                 "command": "faastrain calibrate --local-cluster --out api.json",
                 "faastrain_version": "0.1.0", "duration_s": 812.4, ...},
      "parameters": {"service_time": {"value": 0.207, "spread": 0.002, "unit": "s",
                                      "from": "probe: 200 requests one at a time ..."}, ...},
      "measurements": {...the raw summaries the parameters were fitted from...}
    }

``parameters`` holds every parameter of :class:`~faastrain_async.config.SimSettings` that
describes the function and its cluster (:data:`UNITS`), none other. This module reads and
writes the file and nothing else, so the simulator can load one without the experiment's code.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faastrain_async.config import OVERLOAD_MODES, SimSettings
from faastrain_async.errors import ConfigError

FORMAT = "faastrain-calibration"
VERSION = 1

#: Every parameter a calibration gives, with its unit ("1": a ratio; "core-s": CPU seconds).
UNITS: dict[str, str] = {
    "service_time": "s",
    "service_time_cv": "1",
    "concurrency": "requests",
    "replica_rate": "req/s",
    "overload": "mode",
    "request_timeout": "s",
    "cpu_per_request": "core-s",
    "cpu_request": "cores",
    "idle_cpu": "cores",
    "mem_request_mib": "MiB",
    "mem_base_mib": "MiB",
    "mem_per_request_mib": "MiB",
    "cold_start": "s",
    "cold_start_cv": "1",
    "termination": "s",
    "termination_cv": "1",
    "grace_period": "s",
    "cores": "cores",
}
#: Parameters whose value may be null: None in SimSettings (see its fields).
NULLABLE = ("replica_rate", "cores")
#: Fields every ``source`` holds, and their JSON types.
SOURCE_FIELDS: dict[str, tuple[type, ...]] = {
    "cluster": (str,),
    "api_server": (str,),
    "function": (str,),
    "namespace": (str,),
    "time": (str,),
    "command": (str,),
    "faastrain_version": (str,),
    "duration_s": (int, float),
}
_TOP = ("format", "version", "source", "parameters", "measurements")
_ENTRY = ("value", "spread", "unit", "from")


@dataclass(frozen=True)
class Parameter:
    """One fitted parameter: its value, spread, unit and the measurement it came from."""

    value: float | int | str | None
    spread: float | None
    unit: str
    source: str

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "spread": self.spread, "unit": self.unit, "from": self.source}


@dataclass(frozen=True)
class Calibration:
    """A calibration file's content."""

    source: dict[str, Any]
    parameters: dict[str, Parameter]
    measurements: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "source": self.source,
            "parameters": {name: p.to_json() for name, p in self.parameters.items()},
            "measurements": self.measurements,
        }

    def settings(self) -> dict[str, Any]:
        """The parameters as SimSettings keyword arguments."""
        return {name: p.value for name, p in self.parameters.items()}


def write_calibration(path: str | Path, calibration: Calibration) -> None:
    """Write the file whole or not at all (a temporary file renamed over ``path``)."""
    path = Path(path)
    text = json.dumps(calibration.to_json(), indent=2, allow_nan=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def read_calibration(path: str | Path) -> Calibration:
    """Read and check a calibration file; ConfigError naming the file and the bad field."""
    where = f"calibration file {str(path)!r}"
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise ConfigError(f"{where} not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{where} cannot be read: {e}") from None
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except ValueError as e:
        raise ConfigError(f"{where} is not valid JSON (truncated?): {e}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ConfigError(f"{where}: format={found!r}; not a faastrain calibration (format {FORMAT!r})")
    if data.get("version") != VERSION or isinstance(data.get("version"), bool):
        raise ConfigError(f"{where}: version={data.get('version')!r} is not supported; this faastrain reads version {VERSION}")
    _fields(data, _TOP, f"{where}: top level")
    source = data["source"]
    if not isinstance(source, dict):
        raise ConfigError(f"{where}: source must be an object, got {type(source).__name__}")
    for name, types in SOURCE_FIELDS.items():
        value = source.get(name)
        if not isinstance(value, types) or isinstance(value, bool):
            raise ConfigError(f"{where}: source.{name}={value!r}; expected {' or '.join(t.__name__ for t in types)}")
    if not isinstance(data["measurements"], dict):
        raise ConfigError(f"{where}: measurements must be an object, got {type(data['measurements']).__name__}")
    return Calibration(source, _parameters(data["parameters"], where), data["measurements"])


def _fields(entry: Any, expected: tuple[str, ...], where: str) -> None:
    missing = [k for k in expected if k not in entry]
    unknown = [k for k in entry if k not in expected]
    if missing or unknown:
        problems = [f"missing {', '.join(missing)}"] if missing else []
        problems += [f"unknown {', '.join(unknown)}"] if unknown else []
        raise ConfigError(f"{where}: {'; '.join(problems)} (expected exactly {', '.join(expected)})")


def _parameters(raw: Any, where: str) -> dict[str, Parameter]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: parameters must be an object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(UNITS))
    if unknown:
        raise ConfigError(f"{where}: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(UNITS)}")
    missing = [name for name in UNITS if name not in raw]
    if missing:
        raise ConfigError(f"{where}: parameter(s) {', '.join(missing)} missing")
    parameters = {}
    for name, unit in UNITS.items():
        entry, at = raw[name], f"{where}: parameters.{name}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{at} must be an object with {', '.join(_ENTRY)}")
        _fields(entry, _ENTRY, at)
        _check_value(name, entry["value"], at)
        spread = entry["spread"]
        if spread is not None and not (_number(spread) and spread >= 0):
            raise ConfigError(f"{at}.spread={spread!r}; expected a number >= 0 or null")
        if entry["unit"] != unit:
            raise ConfigError(f"{at}.unit={entry['unit']!r}; expected {unit!r}")
        if not isinstance(entry["from"], str):
            raise ConfigError(f"{at}.from={entry['from']!r}; expected a text")
        parameters[name] = Parameter(entry["value"], spread, unit, entry["from"])
    return parameters


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_value(name: str, value: Any, at: str) -> None:
    if name == "overload":
        ok, expected = value in OVERLOAD_MODES, f"one of {', '.join(OVERLOAD_MODES)}"
    elif name == "concurrency":
        ok, expected = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif name in NULLABLE:
        ok, expected = value is None or _number(value), "a number or null"
    else:
        ok, expected = _number(value), "a number"
    if not ok:
        raise ConfigError(f"{at}.value={value!r}; expected {expected}")


def load_calibration(path: str | Path) -> dict[str, Any]:
    """A calibration file's parameters as SimSettings keyword arguments (with ``calibration``
    set to the path), checked as SimSettings checks them."""
    values = {**read_calibration(path).settings(), "calibration": str(path)}
    try:
        SimSettings(**values)
    except ConfigError as e:
        raise ConfigError(f"calibration file {str(path)!r}: {e}") from None
    return values
