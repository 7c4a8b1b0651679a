"""The function's window metrics: OpenFaaS gateway series in Prometheus, CPU and memory of its pods."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from faastrain_async.backends.kubernetes.pods import TRANSIENT
from faastrain_async.backends.kubernetes.settings import KubernetesSettings, promql_string
from faastrain_async.clients.prometheus import PrometheusClient, Series, quote, single
from faastrain_async.errors import ConfigError, MetricsUnavailable
from faastrain_async.events import WindowMetrics
from faastrain_async.logger import get_logger
from faastrain_async.quantity import parse_quantity

log = get_logger(__name__)

#: Seconds between checks for the scrape that closes a window (Prometheus cannot notify).
INGEST_RECHECK = 0.05
#: Seconds of raw samples read before a window's start: the scrape that opens the window, and
#: enough scrapes to tell the scrape interval at the usual 15-30 s.
EDGE_LOOKBACK = 120.0
#: A window's edge may lie this many scrape intervals after the scrape that stands for it;
#: further, Prometheus was not scraping there (it was down or restarting).
EDGE_SCRAPES = 2.0


def _range(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


def window_queries(settings: KubernetesSettings, seconds: float) -> dict[str, str]:
    """FaaSTrainGym's rate queries over a window of ``seconds``, label values escaped (the
    request counts come from raw samples: :func:`count_queries`).

    With ``resource_metrics="cadvisor"`` CPU and memory come from cAdvisor series too.
    """
    w = _range(seconds)
    fn = f"function_name={promql_string(settings.function_label)}"
    ok = f'{fn},code="200"'
    queries = {
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


def count_queries(settings: KubernetesSettings, seconds: float) -> dict[str, str]:
    """Range selectors of the raw samples a window of ``seconds`` counts its requests from:
    the gateway's scrapes (``gateway_service_count``) and its invocation counters, reaching
    :data:`EDGE_LOOKBACK` seconds before the window's start."""
    w = _range(seconds + EDGE_LOOKBACK)
    fn = f"function_name={promql_string(settings.function_label)}"
    return {
        "scrapes": f"gateway_service_count{{{fn}}}[{w}]",
        "counters": f"gateway_function_invocation_total{{{fn}}}[{w}]",
    }


def _target(labels: dict[str, str]) -> tuple[str, str]:
    """The scrape target a series came from (several gateways may serve one function)."""
    return labels.get("job", ""), labels.get("instance", "")


def window_counts(scrapes: list[Series], counters: list[Series], start: float, end: float) -> tuple[float, float]:
    """Requests and successful (code 200) requests the gateway completed in ``[start, end]``.

    Whole numbers: per scrape target, each counter's value at the last scrape at or before
    ``end`` minus its value at the last scrape at or before ``start`` (0 for a counter that
    scrape did not hold: the gateway creates it at the function's first call). So windows
    that follow each other count every request once, shifted by less than a scrape interval.
    Raises :class:`MetricsUnavailable` when the window cannot be counted: Prometheus holds no
    scrape at or shortly before an edge (it restarted or was down), or a counter dropped
    inside the window (the gateway restarted).
    """
    times: dict[tuple[str, str], set[float]] = {}
    for labels, samples in scrapes:
        times.setdefault(_target(labels), set()).update(t for t, _ in samples)
    if not times:
        raise MetricsUnavailable("Prometheus holds no scrape of the gateway's series for the window")
    edges = {target: _edges(sorted(ts), start, end) for target, ts in times.items()}
    requests = successes = 0.0
    for labels, samples in counters:
        target = _target(labels)
        if target not in edges:
            raise MetricsUnavailable(f"the invocation counter {labels} has no gateway scrapes beside it in Prometheus")
        t_start, t_end = edges[target]
        inside = [(t, v) for t, v in samples if t_start <= t <= t_end]
        for (t0, v0), (t1, v1) in zip(inside, inside[1:]):
            if v1 < v0:
                raise MetricsUnavailable(
                    f"the invocation counter {labels} restarted inside the window (from {v0:g} at {t0:.3f} to {v1:g} "
                    f"at {t1:.3f}): the gateway restarted, so the window's requests cannot be counted"
                )
        if not inside:
            continue  # created after the window's last scrape: its requests fall in the next window
        if inside[-1][0] != t_end:
            raise MetricsUnavailable(
                f"the invocation counter {labels} is missing from the gateway's scrape at {t_end:.3f}: "
                "the gateway restarted, so the window's requests cannot be counted"
            )
        first = inside[0][1] if inside[0][0] == t_start else 0.0
        count = inside[-1][1] - first
        requests += count
        if labels.get("code") == "200":
            successes += count
    return requests, successes


def _edges(times: list[float], start: float, end: float) -> tuple[float, float]:
    """The last scrapes at or before ``start`` and ``end``, if each lies near its edge."""
    before_start = [t for t in times if t <= start]
    if not before_start:
        raise MetricsUnavailable(
            f"Prometheus holds no scrape of the gateway at or before the window's start {start:.3f} "
            f"(its first is at {times[0]:.3f}): it started or restarted since, so the window's requests cannot be counted"
        )
    t_start, t_end = before_start[-1], max(t for t in times if t <= end)
    gaps = sorted(b - a for a, b in zip(times, times[1:]))
    if not gaps:
        raise MetricsUnavailable(f"Prometheus holds one scrape of the gateway (at {t_start:.3f}) around the window; it needs more")
    tolerance = EDGE_SCRAPES * gaps[len(gaps) // 2]
    for edge, scrape, what in ((start, t_start, "start"), (end, t_end, "end")):
        if edge - scrape > tolerance:
            raise MetricsUnavailable(
                f"Prometheus holds no scrape of the gateway in the {tolerance:.3g}s before the window's {what} "
                f"{edge:.3f} (the last is at {scrape:.3f}): it was not scraping, so the window's requests cannot be counted"
            )
    return t_start, t_end


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
        counts = count_queries(self.settings, end - start)
        cadvisor = self.settings.resource_metrics == "cadvisor"
        # One task group: the first failure cancels the other reads, and is what is raised.
        try:
            async with asyncio.TaskGroup() as tg:
                rates = tg.create_task(self._prom.query_all(queries, end), name="window-rates")
                scrapes = tg.create_task(self._prom.samples(counts["scrapes"], end), name="window-scrapes")
                counters = tg.create_task(self._prom.samples(counts["counters"], end), name="window-counters")
                usage = None if cadvisor else tg.create_task(self.pod_usage(), name="window-pod-usage")
        except BaseExceptionGroup as group:
            raise group.exceptions[0] from None
        values = rates.result()
        requests, successes = window_counts(scrapes.result(), counters.result(), start, end)
        if usage is None:
            cpu_read, mem_read = single(values["cpu_cores"], "cpu"), single(values["mem_bytes"], "memory")
            if cpu_read is None or mem_read is None:
                raise MetricsUnavailable(f"no cAdvisor CPU or memory series for the pods of {self.settings.deployment_name}")
            cpu, mem = cpu_read, mem_read
        else:
            cpu, mem = usage.result()
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
        items = listed.get("items", []) if isinstance(listed, dict) else None
        if not isinstance(items, list):
            raise MetricsUnavailable(f"metrics.k8s.io answered pod metrics that are not a list of pods: {quote(repr(listed))}")
        if not items:
            raise MetricsUnavailable(f"metrics.k8s.io reports no pods for {s.selector!r} in {s.namespace!r}")
        try:
            cpu = [parse_quantity(item["containers"][0]["usage"]["cpu"], "cpu usage") for item in items]
            mem = [parse_quantity(item["containers"][0]["usage"]["memory"], "memory usage") for item in items]
        except (ConfigError, KeyError, IndexError, TypeError) as e:
            raise MetricsUnavailable(f"metrics.k8s.io answered pod metrics that cannot be read: {e!r}") from e
        return sum(cpu) / len(cpu), sum(mem) / len(mem)
