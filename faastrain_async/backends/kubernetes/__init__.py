"""The Kubernetes + OpenFaaS backend (``backend="kubernetes"``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faastrain_async.backends.kubernetes.backend import KubernetesBackend
from faastrain_async.backends.kubernetes.settings import KubernetesSettings
from faastrain_async.config import EnvSettings, build_settings
from loadgen.profiles import Workload


def make_kubernetes_backend(settings: EnvSettings, workload: Workload, options: Mapping[str, Any] | KubernetesSettings) -> KubernetesBackend:
    """The backend for ``gymnasium.make(..., backend="kubernetes", kubernetes={...})``."""
    return KubernetesBackend(build_settings(KubernetesSettings, options, "kubernetes"), workload)


__all__ = ["KubernetesBackend", "KubernetesSettings", "make_kubernetes_backend"]
