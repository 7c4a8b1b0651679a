"""The Kubernetes + OpenFaaS backend: a real clock, the scaler, Prometheus metrics and the load."""

from __future__ import annotations

import contextlib
import os
from dataclasses import replace
from typing import Any

import aiohttp
from kubernetes_asyncio import client, config

from faastrain_async.backends.kubernetes.load import GatewayLoad
from faastrain_async.backends.kubernetes.metrics import PrometheusMetrics
from faastrain_async.backends.kubernetes.scaler import DeploymentScaler, GatewayScaler
from faastrain_async.backends.kubernetes.settings import KubernetesSettings
from faastrain_async.clients.prometheus import PrometheusClient
from faastrain_async.clock import RealClock
from faastrain_async.errors import BackendError, ConfigError
from loadgen.profiles import Workload
from faastrain_async.logger import get_logger

log = get_logger(__name__)


def local_cluster_for(functions: list[KubernetesSettings]) -> Any:
    """A (not yet started) local cluster serving these functions, as their settings describe
    them (``local_function_kind``, ``local_cold_start``; the first one's scrape interval)."""
    from faastrain_async.local import ClusterSettings, FunctionSpec, LocalCluster  # only when asked for

    return LocalCluster(
        [FunctionSpec(s.function, kind=s.local_function_kind, cold_start=s.local_cold_start) for s in functions],
        ClusterSettings(scrape_interval=functions[0].local_scrape_interval),
    )


def pointed_at(settings: KubernetesSettings, cluster: Any) -> KubernetesSettings:
    """``settings`` with the kubeconfig, Prometheus and gateway of a started local cluster."""
    assert cluster.prometheus_url is not None and cluster.gateway_url is not None  # started, with Prometheus
    return replace(
        settings, kubeconfig=str(cluster.kubeconfig_path), context=None, in_cluster=False,
        prometheus_url=cluster.prometheus_url, gateway_url=cluster.gateway_url,
    )


class KubernetesBackend:
    """A function on a real cluster (or the bundled local cluster), reached as a real cluster is."""

    name = "kubernetes"

    def __init__(self, settings: KubernetesSettings, workload: Workload) -> None:
        self.settings = settings
        self.clock = RealClock()
        self.workload = workload
        self.load = GatewayLoad(settings, workload.draw(0).spec)
        self._stack = contextlib.AsyncExitStack()
        self._opened = False
        self._connected = False
        self.local_cluster: Any = None
        #: The API server's URL, once connected.
        self.api_url: str | None = None

    async def connect(self) -> None:
        """Start the local cluster if asked, and connect to the cluster (idempotent).

        ``reset`` does this first; a caller that drives the ports itself (a calibration)
        connects without starting the workload.
        """
        if self._connected:
            return
        self._connected = True
        try:
            await self._open()
        except BaseException:
            await self.aclose()
            raise

    async def _open(self) -> None:
        """Connect: start the local cluster if asked, load the kubeconfig, open the HTTP session."""
        s = self.settings
        stack = self._stack
        if s.local_cluster:
            s = await self._start_local_cluster()
        configuration = client.Configuration()
        if s.kubeconfig is not None and not os.path.isfile(s.kubeconfig):
            raise ConfigError(f"kubeconfig={s.kubeconfig!r} is not valid: no such file")
        try:
            if s.in_cluster:
                config.load_incluster_config(client_configuration=configuration)
            else:
                await config.load_kube_config(config_file=s.kubeconfig, context=s.context, client_configuration=configuration)
        except Exception as e:  # noqa: BLE001 - the loader raises what a malformed file makes it (TypeError, KeyError, YAMLError...)
            raise ConfigError(f"cannot load the Kubernetes configuration ({s.kubeconfig or 'default kubeconfig'}): {e!r}") from e
        self.api_url = configuration.host
        api = await stack.enter_async_context(client.ApiClient(configuration=configuration))
        http = await stack.enter_async_context(aiohttp.ClientSession())
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        if s.scaler == "openfaas":
            self.scaler: DeploymentScaler | GatewayScaler = GatewayScaler(http, core, s, self.clock)
        else:
            self.scaler = DeploymentScaler(apps, core, s, self.clock)
        prometheus = PrometheusClient(
            s.prometheus_url, http, timeout=s.request_timeout, retries=s.retries, backoff=s.backoff, backoff_max=s.backoff_max
        )
        self.metrics = PrometheusMetrics(prometheus, client.CustomObjectsApi(api), apps, s)
        self.load.settings = s
        self.settings = s

    async def _start_local_cluster(self) -> KubernetesSettings:
        """Start the bundled local cluster; the settings that point at it."""
        cluster = local_cluster_for([self.settings])
        self.local_cluster = await self._stack.enter_async_context(cluster)
        log.info("local cluster started", gateway=cluster.gateway_url, prometheus=cluster.prometheus_url)
        return pointed_at(self.settings, cluster)

    async def reset(self, *, seed: int | None, replicas: int) -> None:
        """Connect and start the workload at the first reset; at a seeded one, run the profile
        its seed draws (``seed`` also fixes the arrivals), restarting the generator if it differs."""
        first = not self._opened
        if first:
            self._opened = True
            await self.connect()  # closes the backend itself when it fails
            self._stack.push_async_callback(self.load.stop)
        if first or seed is not None:
            drawn = 0 if seed is None else seed
            try:
                await self.load.play(self.workload.draw(drawn).spec, seed=drawn % 2**32)
            except BaseException:
                if first:
                    await self.aclose()
                raise

    async def aclose(self) -> None:
        """Stop the load generator, close the connections, stop the local cluster."""
        stack, self._stack = self._stack, contextlib.AsyncExitStack()
        try:
            await stack.aclose()
        except Exception as e:
            raise BackendError(f"closing the kubernetes backend failed: {e!r}") from e
