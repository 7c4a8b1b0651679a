"""Errors of the local cluster, as leaves of faastrain's error tree."""

from __future__ import annotations

from faastrain_async.errors import BackendError, ConfigError


class LocalClusterError(BackendError):
    """The local cluster (API server, replicas, gateway or Prometheus) failed."""


class PrometheusNotFound(LocalClusterError, ConfigError):
    """No Prometheus binary was found; the message says how to install or point at one."""
