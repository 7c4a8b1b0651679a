"""The function's window metrics: OpenFaaS gateway series in Prometheus, CPU and memory of its pods."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from faastrain_async.backends.kubernetes.pods import TRANSIENT
from faastrain_async.backends.kubernetes.settings import KubernetesSettings, promql_string
from faastrain_async.clients.prometheus import PrometheusClient, single
from faastrain_async.errors import ConfigError, MetricsUnavailable
from faastrain_async.events import WindowMetrics
from faastrain_async.logger import get_logger
from faastrain_async.quantity import parse_quantity

log = get_logger(__name__)

#: Seconds between checks for the scrape that closes a window (Prometheus cannot notify).
INGEST_RECHECK = 0.05


def _range(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


def window_queries(settings: KubernetesSettings, seconds: float) -> dict[str, str]:
    """FaaSTrainGym's queries over a window of ``seconds``, label values escaped.

    With ``resource_metrics="cadvisor"`` CPU and memory come from cAdvisor series too.
    """
    w = _range(seconds)
    fn = f"function_name={promql_string(settings.function_label)}"
    ok = f'{fn},code="200"'
    queries = {
        "requests": f"sum(increase(gateway_function_invocation_total{{{fn}}}[{w}]))",
        "successes": f"sum(increase(gateway_function_invocation_total{{{ok}}}[{w}]))",
        "mean_exec": (
            f"sum(rate(gateway_functions_seconds_sum{{{ok}}}[{w}])) / "
            f"sum(rate(gateway_functions_seconds_count{{{ok}}}[{w}]))"
        ),
        "p95_exec": f"histogram_quantile(0.95, sum by (le) (rate(gateway_functions_seconds_bucket{{{ok}}}[{w}])))",
    }
    if settings.resource_metrics == "cadvisor":
        pods = f"namespace={promql_string(settings.namespace)},pod=~{promql_string(settings.deployment_name + '-.*')}"
        queries["cpu_cores"] = f"avg(sum by (pod) (rate(container_cpu_usage_seconds_total{{{pods}}}[{w}])))"
        queries["mem_bytes"] = f"avg(sum by (pod) (avg_over_time(container_memory_working_set_bytes{{{pods}}}[{w}])))"
    return queries


def ingest_query(settings: KubernetesSettings) -> str:
    """When Prometheus last scraped the gateway's series of this function."""
    return f"max(timestamp(gateway_service_count{{function_name={promql_string(settings.function_label)}}}))"


class PrometheusMetrics:
    """``MetricsSource`` over Prometheus (and metrics.k8s.io for CPU and memory, by default)."""

    def __init__(
        self,
        prometheus: PrometheusClient,
        custom: client.CustomObjectsApi,
        apps: client.AppsV1Api,
        settings: KubernetesSettings,
    ) -> None:
        self._prom = prometheus
        self._custom = custom
        self._apps = apps
        self.settings = settings
        self._deployment: Any = None
        self._requests: tuple[float, float] | None = None  # (cpu cores, memory bytes) per pod
        self._last: WindowMetrics | None = None

    async def deployment(self) -> Any:
        """The function's Deployment (a V1Deployment), read once."""
        if self._deployment is None:
            s = self.settings
            try:
                self._deployment = await self._apps.read_namespaced_deployment(
                    s.deployment_name, s.namespace, _request_timeout=s.request_timeout
                )
            except (ApiException, *TRANSIENT) as e:
                raise MetricsUnavailable(f"could not read deployment {s.namespace}/{s.deployment_name}: {e!r}") from e
        return self._deployment

    async def resource_requests(self) -> tuple[float, float]:
        """CPU (cores) and memory (bytes) one pod requests, from the Deployment's first container."""
        if self._requests is None:
            s = self.settings
            deployment = await self.deployment()
            resources = deployment.spec.template.spec.containers[0].resources
            requests = (resources.requests if resources else None) or {}
            if "cpu" not in requests or "memory" not in requests:
                raise MetricsUnavailable(
                    f"deployment {s.namespace}/{s.deployment_name} declares no CPU and memory requests; "
                    "utilisation is a fraction of them (set resources.requests on its container)"
                )
            try:
                self._requests = (parse_quantity(requests["cpu"], "cpu request"), parse_quantity(requests["memory"], "memory request"))
            except ConfigError as e:
                raise MetricsUnavailable(f"deployment {s.namespace}/{s.deployment_name}: {e}") from e
        return self._requests

    async def window(self, start: float, end: float) -> WindowMetrics:
        try:
            metrics = await self._read(start, end)
        except MetricsUnavailable as e:
            if self.settings.on_metrics_unavailable == "stale" and self._last is not None:
                log.warning("metrics stale", error=str(e), window=(start, end))
                return self._last._replace(start=start, end=end, stale=True)
            raise
        self._last = metrics
        return metrics

    async def _read(self, start: float, end: float) -> WindowMetrics:
        await self._wait_ingested(end)
        cpu_request, mem_request = await self.resource_requests()
        queries = window_queries(self.settings, end - start)
        if self.settings.resource_metrics == "cadvisor":
            values = await self._prom.query_all(queries, end)
            cpu_read, mem_read = single(values["cpu_cores"], "cpu"), single(values["mem_bytes"], "memory")
            if cpu_read is None or mem_read is None:
                raise MetricsUnavailable(f"no cAdvisor CPU or memory series for the pods of {self.settings.deployment_name}")
            cpu, mem = cpu_read, mem_read
        else:
            values, (cpu, mem) = await asyncio.gather(self._prom.query_all(queries, end), self.pod_usage())
        # The gateway creates an invocation counter at a function's first call: once a scrape
        # after the window's end is in (checked above), no series means no request yet.
        requests = single(values["requests"], "requests") or 0.0
        successes = single(values["successes"], "successes") or 0.0
        return WindowMetrics(
            start=start, end=end, requests=requests, successes=min(successes, requests),
            mean_exec_s=single(values["mean_exec"], "mean execution time"),
            p95_exec_s=single(values["p95_exec"], "p95 execution time"),
            cpu_util=cpu / cpu_request, mem_util=mem / mem_request,
        )

    async def _wait_ingested(self, end: float) -> None:
        """Return once Prometheus holds a scrape of the gateway taken at or after ``end``."""
        deadline = time.time() + self.settings.ingest_timeout
        expr = ingest_query(self.settings)
        last: float | None = None
        while True:
            last = single(await self._prom.query(expr, time.time()), "last scrape time")
            if last is not None and last >= end:
                return
            if time.time() >= deadline:
                raise MetricsUnavailable(
                    f"Prometheus has no scrape of the gateway at or after the window's end {end:.3f} "
                    f"within {self.settings.ingest_timeout:g}s (last scrape: {last})"
                )
            await asyncio.sleep(INGEST_RECHECK)  # the next scrape is due within a scrape interval

    async def pod_usage(self) -> tuple[float, float]:
        """Mean CPU (cores) and memory (bytes) per pod, from metrics.k8s.io (as FaaSTrainGym reads it)."""
        s = self.settings
        try:
            listed = await self._custom.list_namespaced_custom_object(
                "metrics.k8s.io", "v1beta1", s.namespace, "pods", label_selector=s.selector, _request_timeout=s.request_timeout
            )
        except (ApiException, *TRANSIENT) as e:
            raise MetricsUnavailable(f"metrics.k8s.io could not list pod metrics in {s.namespace!r}: {e!r}") from e
        items = listed.get("items", [])
        if not items:
            raise MetricsUnavailable(f"metrics.k8s.io reports no pods for {s.selector!r} in {s.namespace!r}")
        try:
            cpu = [parse_quantity(item["containers"][0]["usage"]["cpu"], "cpu usage") for item in items]
            mem = [parse_quantity(item["containers"][0]["usage"]["memory"], "memory usage") for item in items]
        except (ConfigError, KeyError, IndexError) as e:
            raise MetricsUnavailable(f"metrics.k8s.io answered pod metrics that cannot be read: {e!r}") from e
        return sum(cpu) / len(cpu), sum(mem) / len(mem)
