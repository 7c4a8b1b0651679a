"""What the local cluster tests share: start a cluster, a kubernetes_asyncio client
on its kubeconfig, and checks that nothing it started outlives it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psutil
from kubernetes_asyncio import client, config

from faastrain_async.local import ClusterSettings, FunctionSpec, LocalCluster
from faastrain_async.local.statedir import owned_processes

NS = "openfaas-fn"
#: Settings that keep the tests quick on a small machine.
FAST = {"scrape_interval": 0.5, "probe_period": 0.1, "termination_grace": 3.0, "restart_delay": 0.2, "metrics_resolution": 0.5}


def settings(**overrides: Any) -> ClusterSettings:
    return ClusterSettings(**{"prometheus": False, **FAST, **overrides})


def cluster_processes(cluster_id: str) -> list[psutil.Process]:
    """Live processes that belong to the cluster (they carry its mark in their environment)."""
    return owned_processes(cluster_id)


@contextlib.asynccontextmanager
async def running_cluster(functions: list[FunctionSpec], cluster_settings: ClusterSettings) -> AsyncIterator[LocalCluster]:
    """A started LocalCluster; afterwards no replica or Prometheus process of it may remain."""
    cluster = LocalCluster(functions, cluster_settings)
    await cluster.start()
    prometheus_pid = cluster.prometheus_pid
    try:
        yield cluster
    finally:
        await cluster.stop()
        assert cluster_processes(cluster.cluster_id) == [], "replica processes outlived the cluster"
        if prometheus_pid is not None:
            assert not psutil.pid_exists(prometheus_pid) or psutil.Process(prometheus_pid).status() == psutil.STATUS_ZOMBIE


@contextlib.asynccontextmanager
async def kube(cluster: LocalCluster) -> AsyncIterator[client.ApiClient]:
    """A kubernetes_asyncio client configured from the cluster's kubeconfig file."""
    api = await config.new_client_from_config(config_file=str(cluster.kubeconfig_path))
    async with api:
        yield api


async def eventually(check: Callable[[], Awaitable[bool]] | Callable[[], bool], *, timeout: float = 20.0, every: float = 0.1) -> None:
    """Wait until ``check()`` is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(every)
