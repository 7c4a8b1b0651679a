"""A single-machine stand-in for Kubernetes + OpenFaaS + Prometheus (see docs/local-cluster.md).

``LocalCluster``, ``FunctionSpec`` and ``ClusterSettings`` are imported lazily, so a replica
process (``python -m faastrain_async.local.replica``) does not load the server side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faastrain_async.local.cluster import LocalCluster
    from faastrain_async.local.errors import LocalClusterError, PrometheusNotFound
    from faastrain_async.local.settings import ClusterSettings, FunctionSpec

__all__ = ["ClusterSettings", "FunctionSpec", "LocalCluster", "LocalClusterError", "PrometheusNotFound"]

_HOMES = {
    "LocalCluster": "faastrain_async.local.cluster",
    "ClusterSettings": "faastrain_async.local.settings",
    "FunctionSpec": "faastrain_async.local.settings",
    "LocalClusterError": "faastrain_async.local.errors",
    "PrometheusNotFound": "faastrain_async.local.errors",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
