"""The gateway: OpenFaaS-compatible routing of invocations, and its Prometheus metrics.

- ``/function/<name>[/<path>]``: forwarded to a ready, not terminating replica with the
  fewest calls in flight; 404 for an unknown function, 503 when none is ready, 504 when
  the call outlives the function's timeout, 502 when the replica cannot be reached;
- ``GET /system/functions``, ``GET /system/function/<name>``,
  ``POST /system/scale-function/<name>`` (``{"serviceName": ..., "replicas": N}``);
- ``GET /metrics``: ``gateway_function_invocation_total{function_name,code}``, the
  histogram ``gateway_functions_seconds{function_name,code}``,
  ``gateway_service_count{function_name}`` (function_name ``<name>.openfaas-fn``),
  kube-state-metrics' ``kube_deployment_spec_replicas`` / ``kube_deployment_status_replicas``
  / ``kube_deployment_status_replicas_ready{namespace,deployment}``, and cAdvisor's
  ``container_cpu_usage_seconds_total`` / ``container_memory_working_set_bytes``
  ``{namespace,pod,container}`` measured from each replica process.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict
from typing import Any

import aiohttp
from aiohttp import web

from faastrain_async.local.controller import Controller
from faastrain_async.local.objects import Deployment, Pod
from faastrain_async.local.pods import PodRunner
from faastrain_async.local.settings import NAMESPACE, ClusterSettings
from faastrain_async.local.usage import UsageSampler
from faastrain_async.logger import get_logger

log = get_logger(__name__)

#: The Prometheus client's default buckets, which OpenFaaS's gateway histogram uses.
BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_PASSED_HEADERS = ("Content-Type", "X-Duration-Seconds")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


class Histogram:
    """One histogram series: cumulative bucket counts, sum and count."""

    def __init__(self) -> None:
        self.buckets = [0] * len(BUCKETS)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(BUCKETS):
            if value <= bound:
                self.buckets[i] += 1
        self.sum += value
        self.count += 1


class Gateway:
    """The aiohttp application of the gateway; ``app`` is served by the cluster."""

    def __init__(self, *, controller: Controller, runner: PodRunner, sampler: UsageSampler, settings: ClusterSettings) -> None:
        self._controller = controller
        self._runner = runner
        self._sampler = sampler
        self._settings = settings
        self._invocations: dict[tuple[str, str], int] = defaultdict(int)
        self._seconds: dict[tuple[str, str], Histogram] = defaultdict(Histogram)
        self._inflight: dict[str, int] = defaultdict(int)
        self._idle = asyncio.Condition()
        self._turn = itertools.count()
        self._http: aiohttp.ClientSession | None = None
        self.app = web.Application()
        add = self.app.router.add_route
        add("*", "/function/{name}", self._invoke)
        add("*", "/function/{name}/{tail:.*}", self._invoke)
        add("GET", "/system/functions", self._functions)
        add("GET", "/system/function/{name}", self._function)
        add("POST", "/system/scale-function/{name}", self._scale)
        add("GET", "/metrics", self._metrics)
        add("GET", "/healthz", self._healthz)

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), auto_decompress=False)

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()

    def register(self, deployment: Deployment) -> None:
        """Start the function's success series at 0, so increase() counts its first calls."""
        key = (deployment.spec.function_name, "200")
        self._invocations[key] += 0
        _ = self._seconds[key]

    async def wait_drained(self, pod: str, timeout: float) -> None:
        """Wait until no call is in flight on ``pod`` (at most ``timeout`` seconds)."""
        async with self._idle:
            try:
                await asyncio.wait_for(self._idle.wait_for(lambda: self._inflight.get(pod, 0) == 0), timeout)
            except TimeoutError:
                log.warning("replica still busy when its grace period ended", pod=pod, inflight=self._inflight.get(pod, 0))

    # --- invocations ---------------------------------------------------------------------

    def _lookup(self, name: str) -> Deployment | None:
        base, _, namespace = name.partition(".")
        if namespace and namespace != NAMESPACE:
            return None
        return self._controller.get(base)

    def _pick(self, deployment: Deployment) -> Pod | None:
        ready = [p for p in self._controller.pods_of(deployment.name) if p.ready and not p.terminating]
        if not ready:
            return None
        # Least in flight first; the rotating offset spreads ties evenly.
        turn = next(self._turn)
        ready = ready[turn % len(ready) :] + ready[: turn % len(ready)]
        return min(ready, key=lambda p: self._inflight[p.name])

    async def _invoke(self, request: web.Request) -> web.StreamResponse:
        deployment = self._lookup(request.match_info["name"])
        if deployment is None:
            return web.Response(status=404, text=f"error finding function {request.match_info['name']}: not found")
        spec = deployment.spec
        started = time.perf_counter()
        pod = self._pick(deployment)
        if pod is None:
            response = web.Response(status=503, text=f"no ready replica of function {spec.name}")
        else:
            response = await self._forward(request, pod, spec.timeout)
        self._record(spec.function_name, response.status, time.perf_counter() - started)
        return response

    async def _forward(self, request: web.Request, pod: Pod, timeout: float) -> web.Response:
        assert self._http is not None
        body = await request.read()
        url = f"http://127.0.0.1:{pod.port}/{request.match_info.get('tail', '')}"
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "accept")}
        self._inflight[pod.name] += 1
        try:
            async with self._http.request(
                request.method, url, params=request.query, data=body, headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout + 0.5),
            ) as upstream:  # fmt: skip
                payload = await upstream.read()
                passed = {k: upstream.headers[k] for k in _PASSED_HEADERS if k in upstream.headers}
                return web.Response(status=upstream.status, body=payload, headers=passed)
        except TimeoutError:
            return web.Response(status=504, text=f"function {pod.spec.name} timed out after {timeout}s")
        except aiohttp.ClientError as exc:
            log.info("replica unreachable", pod=pod.name, error=repr(exc))
            return web.Response(status=502, text=f"replica {pod.name} could not be reached: {exc!r}")
        finally:
            self._inflight[pod.name] -= 1
            if self._inflight[pod.name] == 0:
                del self._inflight[pod.name]
                async with self._idle:
                    self._idle.notify_all()

    def _record(self, function_name: str, status: int, seconds: float) -> None:
        key = (function_name, str(status))
        self._invocations[key] += 1
        self._seconds[key].observe(seconds)

    # --- system API ----------------------------------------------------------------------

    def _describe(self, deployment: Deployment) -> dict[str, Any]:
        invocations = sum(n for (fn, _), n in self._invocations.items() if fn == deployment.spec.function_name)
        return {
            "name": deployment.name,
            "image": f"faastrain/local-replica:{deployment.spec.kind}",
            "namespace": NAMESPACE,
            "replicas": deployment.replicas,
            "availableReplicas": deployment.ready_replicas,
            "invocationCount": invocations,
            "labels": {"faas_function": deployment.name, **deployment.labels},
            "annotations": dict(deployment.annotations),
            "requests": {"cpu": deployment.spec.cpu_request, "memory": deployment.spec.memory_request},
        }

    async def _functions(self, request: web.Request) -> web.Response:
        return web.json_response([self._describe(d) for d in self._controller.deployments.values()])

    async def _function(self, request: web.Request) -> web.Response:
        deployment = self._lookup(request.match_info["name"])
        if deployment is None:
            return web.Response(status=404, text=f"function {request.match_info['name']} not found")
        return web.json_response(self._describe(deployment))

    async def _scale(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        deployment = self._lookup(name)
        if deployment is None:
            return web.Response(status=404, text=f"function {name} not found")
        try:
            body = await request.json()
        except ValueError as exc:
            return web.Response(status=400, text=f"the body must be JSON {{\"serviceName\": ..., \"replicas\": N}}: {exc}")
        replicas = body.get("replicas") if isinstance(body, dict) else None
        service = body.get("serviceName", deployment.name) if isinstance(body, dict) else None
        if service not in (deployment.name, deployment.spec.function_name):
            return web.Response(status=400, text=f"serviceName {service!r} does not match the function in the path ({deployment.name})")
        limit = self._settings.max_replicas
        if not isinstance(replicas, int) or isinstance(replicas, bool) or not 0 <= replicas <= limit:
            return web.Response(status=400, text=f"replicas={replicas!r} is not valid: must be an integer in 0..{limit}")
        self._controller.scale(deployment, replicas)
        return web.Response(status=202, text=f"scaling {deployment.name} to {replicas}")

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="OK")

    # --- metrics -------------------------------------------------------------------------

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(text=self.exposition(), content_type="text/plain", charset="utf-8", headers={"X-Exposition": "0.0.4"})

    def exposition(self) -> str:
        """All metrics in the Prometheus text format 0.0.4."""
        lines = [
            "# HELP gateway_function_invocation_total Function metrics",
            "# TYPE gateway_function_invocation_total counter",
        ]
        for (fn, code), value in sorted(self._invocations.items()):
            lines.append(f"gateway_function_invocation_total{_labels(code=code, function_name=fn)} {value}")
        lines += ["# HELP gateway_functions_seconds Function time taken", "# TYPE gateway_functions_seconds histogram"]
        for (fn, code), histogram in sorted(self._seconds.items()):
            for bound, count in zip(BUCKETS, histogram.buckets, strict=True):
                lines.append(f"gateway_functions_seconds_bucket{_labels(code=code, function_name=fn, le=repr(bound))} {count}")
            lines.append(f"gateway_functions_seconds_bucket{_labels(code=code, function_name=fn, le='+Inf')} {histogram.count}")
            lines.append(f"gateway_functions_seconds_sum{_labels(code=code, function_name=fn)} {histogram.sum!r}")
            lines.append(f"gateway_functions_seconds_count{_labels(code=code, function_name=fn)} {histogram.count}")
        deployments = sorted(self._controller.deployments.values(), key=lambda d: d.name)
        lines += ["# HELP gateway_service_count Current count of replicas for function", "# TYPE gateway_service_count gauge"]
        for d in deployments:
            lines.append(f"gateway_service_count{_labels(function_name=d.spec.function_name)} {d.ready_replicas}")
        for metric, attribute, help_ in (
            ("kube_deployment_spec_replicas", "replicas", "Number of desired pods for a deployment."),
            ("kube_deployment_status_replicas", "status_replicas", "The number of replicas per deployment."),
            ("kube_deployment_status_replicas_ready", "ready_replicas", "The number of ready replicas per deployment."),
        ):
            lines += [f"# HELP {metric} {help_}", f"# TYPE {metric} gauge"]
            for d in deployments:
                lines.append(f"{metric}{_labels(namespace=NAMESPACE, deployment=d.name)} {getattr(d, attribute)}")
        cpu = [
            "# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed in seconds.",
            "# TYPE container_cpu_usage_seconds_total counter",
        ]
        memory = [
            "# HELP container_memory_working_set_bytes Current working set in bytes.",
            "# TYPE container_memory_working_set_bytes gauge",
        ]
        for name, pod in sorted(self._runner.pods.items()):
            reading = self._sampler.read(pod)
            if reading is None:
                continue
            labels = _labels(namespace=NAMESPACE, pod=name, container=pod.spec.name)
            cpu.append(f"container_cpu_usage_seconds_total{labels} {reading[0]!r}")
            memory.append(f"container_memory_working_set_bytes{labels} {reading[1]}")
        return "\n".join(lines + cpu + memory) + "\n"
