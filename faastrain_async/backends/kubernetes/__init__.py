"""The Kubernetes + OpenFaaS backend (``backend="kubernetes"``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faastrain_async.backends.kubernetes.backend import KubernetesBackend
from faastrain_async.backends.kubernetes.settings import KubernetesSettings
from faastrain_async.config import EnvSettings, bounded, build_settings
from loadgen.profiles import Workload


def make_kubernetes_backend(settings: EnvSettings, workload: Workload, options: Mapping[str, Any] | KubernetesSettings) -> KubernetesBackend:
    """The backend for ``gymnasium.make(..., backend="kubernetes", kubernetes={...})``."""
    # A window shorter than the load generator's one-second reports may hold none of them.
    bounded("interval", settings.interval, "live_interval")
    return KubernetesBackend(build_settings(KubernetesSettings, options, "kubernetes"), workload)


__all__ = ["KubernetesBackend", "KubernetesSettings", "make_kubernetes_backend"]
