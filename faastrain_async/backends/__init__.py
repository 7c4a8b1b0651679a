"""Backends: where the replicas live. ``make_backend`` builds one by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faastrain_async.backends.ports import Backend
from faastrain_async.config import EnvSettings, SimSettings, build_settings, check_window_cells
from faastrain_async.errors import ConfigError
from loadgen.profiles import Workload

BACKENDS: tuple[str, ...] = ("sim", "kubernetes")


def sim_settings(sim: SimSettings | Mapping[str, Any] | None) -> SimSettings:
    """The simulator's settings: as given, built from a mapping, or the defaults.

    A mapping with ``calibration`` (a calibration file's path) starts from the file's values;
    the mapping's other keys win over them.
    """
    if isinstance(sim, Mapping) and sim.get("calibration") is not None:
        from faastrain_async.calibration.file import load_calibration  # reads the file only

        path = sim["calibration"]
        sim = {**load_calibration(path), **sim, "calibration": str(path)}
    return build_settings(SimSettings, sim, "sim")


def make_backend(
    name: str,
    settings: EnvSettings,
    workload: Workload,
    *,
    sim: SimSettings | Mapping[str, Any] | None = None,
    kubernetes: Mapping[str, Any] | None = None,
    local_cluster: bool = False,
) -> Backend:
    """Build the backend called ``name`` ("sim" or "kubernetes").

    ``local_cluster=True`` (kubernetes only) starts the bundled local cluster and points the
    backend at it. Each seeded reset runs the profile that its seed draws from ``workload``.
    """
    if name == "sim":
        if kubernetes or local_cluster:
            raise ConfigError("kubernetes settings (or local_cluster) were given, but backend='sim'; use backend='kubernetes'")
        from faastrain_async.backends.sim.backend import SimBackend

        simulated = sim_settings(sim)
        check_window_cells(settings.interval, simulated.tick)
        return SimBackend(simulated, workload)
    if name == "kubernetes":
        if sim:
            raise ConfigError("sim settings were given, but backend='kubernetes'; use backend='sim'")
        try:
            from faastrain_async.backends.kubernetes import make_kubernetes_backend
        except ImportError as e:
            raise ConfigError("backend='kubernetes' is not available in this build") from e
        options = dict(kubernetes or {})
        if local_cluster:
            options["local_cluster"] = True
        return make_kubernetes_backend(settings, workload, options)
    raise ConfigError(f"unknown backend {name!r}; known backends: {', '.join(BACKENDS)}")
