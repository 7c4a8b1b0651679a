"""The gateway (routing, system API, metrics), the real Prometheus, and metrics.k8s.io."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from kubernetes_asyncio import client
from local_fixtures import NS, eventually, kube, running_cluster, settings

from faastrain_async.local import FunctionSpec

pytestmark = pytest.mark.slow


async def test_invocations_system_api_and_status_codes() -> None:
    functions = [
        FunctionSpec("matmul", kind="matmul", replicas=2, matmul_size=(30, 30)),
        FunctionSpec("slow", kind="sleep", replicas=1, sleep_seconds=(2.0, 2.0), timeout=0.3),
        FunctionSpec("idle", kind="sleep", replicas=0),
    ]
    async with running_cluster(functions, settings()) as cluster, aiohttp.ClientSession() as http:
        gateway = cluster.gateway_url
        for _ in range(6):
            async with http.post(f"{gateway}/function/matmul", json={"n": 20}) as response:
                assert response.status == 200
                assert (await response.json())["n"] == 20
        async with http.post(f"{gateway}/function/matmul.openfaas-fn") as response:
            assert response.status == 200
        async with http.post(f"{gateway}/function/slow") as response:
            assert response.status == 504
        async with http.post(f"{gateway}/function/idle") as response:
            assert response.status == 503
        async with http.post(f"{gateway}/function/absent") as response:
            assert response.status == 404
        async with http.get(f"{gateway}/system/functions") as response:
            listed = {f["name"]: f for f in await response.json()}
        assert listed["matmul"]["replicas"] == 2 and listed["matmul"]["availableReplicas"] == 2
        assert listed["matmul"]["invocationCount"] == 7 and listed["idle"]["availableReplicas"] == 0
        async with http.post(f"{gateway}/system/scale-function/idle", json={"serviceName": "idle", "replicas": 1}) as response:
            assert response.status == 202
        await cluster.wait_ready("idle", 1, timeout=30)
        async with http.get(f"{gateway}/system/function/idle") as response:
            assert (await response.json())["availableReplicas"] == 1
        async with http.post(f"{gateway}/system/scale-function/idle", json={"serviceName": "idle", "replicas": -2}) as response:
            assert response.status == 400 and "-2" in await response.text()
        async with http.post(f"{gateway}/function/idle") as response:
            assert response.status == 200
        async with http.get(f"{gateway}/metrics") as response:
            text = await response.text()
        assert 'gateway_function_invocation_total{code="200",function_name="matmul.openfaas-fn"} 7' in text
        assert 'gateway_function_invocation_total{code="504",function_name="slow.openfaas-fn"} 1' in text
        assert 'gateway_function_invocation_total{code="503",function_name="idle.openfaas-fn"} 1' in text
        assert 'gateway_functions_seconds_count{code="200",function_name="matmul.openfaas-fn"} 7' in text
        assert 'gateway_functions_seconds_bucket{code="200",function_name="matmul.openfaas-fn",le="+Inf"} 7' in text
        assert 'gateway_service_count{function_name="matmul.openfaas-fn"} 2' in text
        assert 'kube_deployment_status_replicas_ready{namespace="openfaas-fn",deployment="matmul"} 2' in text
        for pod in cluster.pods("matmul"):
            assert f'container_cpu_usage_seconds_total{{namespace="openfaas-fn",pod="{pod.name}",container="matmul"}}' in text
            assert f'container_memory_working_set_bytes{{namespace="openfaas-fn",pod="{pod.name}",container="matmul"}}' in text


async def test_gateway_spreads_calls_over_ready_replicas() -> None:
    async with running_cluster([FunctionSpec("nap", kind="sleep", replicas=3, sleep_seconds=(0.3, 0.3))], settings()) as cluster:
        async with aiohttp.ClientSession() as http:

            async def call() -> int:
                async with http.post(f"{cluster.gateway_url}/function/nap") as response:
                    return response.status

            seen: set[int] = set()
            tasks = [asyncio.create_task(call()) for _ in range(6)]
            await asyncio.sleep(0.1)
            for pod in cluster.pods("nap"):
                usage = cluster._gateway._inflight.get(pod.name, 0)  # noqa: SLF001 - the routing state is what we check
                seen.add(usage)
            assert await asyncio.gather(*tasks) == [200] * 6
        assert seen == {2}, "least-in-flight routing puts two of six calls on each of three replicas"


async def query(http: aiohttp.ClientSession, prometheus: str, promql: str, at: float) -> float:
    async with http.get(f"{prometheus}/api/v1/query", params={"query": promql, "time": f"{at:.3f}"}) as response:
        body = await response.json()
    assert body["status"] == "success", body
    result = body["data"]["result"]
    assert len(result) == 1, (promql, result)
    return float(result[0]["value"][1])


async def test_faastraingym_promql_counts_requests_sent() -> None:
    functions = [FunctionSpec("matmul", kind="matmul", replicas=2, matmul_size=(40, 80)), FunctionSpec("nap", kind="sleep", replicas=1, sleep_seconds=(0.05, 0.05))]
    async with running_cluster(functions, settings(prometheus=True, scrape_interval=0.5)) as cluster, aiohttp.ClientSession() as http:
        assert cluster.prometheus_url is not None
        window_start = time.time()
        await asyncio.sleep(1.0)  # a few scrapes before the first call
        sent = {"matmul": 25, "nap": 10}
        for name, count in sent.items():
            for _ in range(count):
                async with http.post(f"{cluster.gateway_url}/function/{name}") as response:
                    assert response.status == 200
        # Wait until a scrape after the last call has been ingested, then evaluate there.
        await eventually(lambda: _counted(http, cluster.prometheus_url, sent["nap"]), timeout=15)
        await asyncio.sleep(1.0)
        end = time.time()
        window = f"{int(end - window_start) + 1}s"
        for name, count in sent.items():
            fn = f"{name}.openfaas-fn"
            requests = await query(http, cluster.prometheus_url, f'sum(increase(gateway_function_invocation_total{{function_name="{fn}"}}[{window}]))', end)
            successes = await query(http, cluster.prometheus_url, f'increase(gateway_function_invocation_total{{function_name="{fn}",code="200"}}[{window}])', end)
            mean = await query(
                http, cluster.prometheus_url,
                f'rate(gateway_functions_seconds_sum{{function_name="{fn}",code="200"}}[{window}]) / rate(gateway_functions_seconds_count{{function_name="{fn}",code="200"}}[{window}])',
                end,
            )  # fmt: skip
            # increase() extrapolates to the window's ends by at most one scrape interval.
            assert count <= requests <= count * 1.2, (name, requests)
            assert count <= successes <= count * 1.2, (name, successes)
            assert mean > 0
        nap_mean = await query(
            http, cluster.prometheus_url,
            f'rate(gateway_functions_seconds_sum{{function_name="nap.openfaas-fn",code="200"}}[{window}]) / rate(gateway_functions_seconds_count{{function_name="nap.openfaas-fn",code="200"}}[{window}])',
            end,
        )  # fmt: skip
        assert 0.05 <= nap_mean < 1.0
        ready = await query(http, cluster.prometheus_url, 'kube_deployment_status_replicas_ready{deployment="matmul"}', end)
        assert ready == 2


async def _counted(http: aiohttp.ClientSession, prometheus: str | None, expected: int) -> bool:
    async with http.get(f"{prometheus}/api/v1/query", params={"query": 'gateway_function_invocation_total{function_name="nap.openfaas-fn",code="200"}'}) as response:
        result = (await response.json())["data"]["result"]
    return bool(result) and float(result[0]["value"][1]) == expected


async def test_metrics_api_reports_more_cpu_for_a_loaded_pod() -> None:
    async with running_cluster([FunctionSpec("matmul", kind="matmul", replicas=2, matmul_size=(50, 400), max_inflight=4)], settings(metrics_resolution=0.5)) as cluster, kube(cluster) as api:
        busy, idle = cluster.pods("matmul")
        stop = time.monotonic() + 3.0
        async with aiohttp.ClientSession() as http:

            async def load() -> None:
                while time.monotonic() < stop:
                    async with http.post(f"http://127.0.0.1:{busy.port}/", json={"n": 400}) as response:
                        assert response.status == 200

            await asyncio.gather(load(), load())
        metrics = await client.CustomObjectsApi(api).list_namespaced_custom_object("metrics.k8s.io", "v1beta1", NS, "pods")
        usage = {item["metadata"]["name"]: item["containers"][0]["usage"] for item in metrics["items"]}
        assert set(usage) == {busy.name, idle.name}
        nanocores = {name: int(u["cpu"].removesuffix("n")) for name, u in usage.items()}
        assert all(u["memory"].endswith("Ki") and int(u["memory"][:-2]) > 1000 for u in usage.values())
        assert nanocores[busy.name] > nanocores[idle.name] + 100_000_000, nanocores
        one = await client.CustomObjectsApi(api).get_namespaced_custom_object("metrics.k8s.io", "v1beta1", NS, "pods", idle.name)
        assert one["metadata"]["name"] == idle.name and one["containers"][0]["name"] == "matmul"
