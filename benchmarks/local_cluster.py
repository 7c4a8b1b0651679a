"""Benchmark of the local cluster: how fast it scales, how fresh its watch is, what a
replica costs, and what the gateway adds to a call.

    python benchmarks/local_cluster.py [--replicas 10] [--calls 500] [--no-prometheus]

Prints:
- seconds from a scale patch (1 → N, through kubernetes_asyncio) to the watch's last
  Ready event;
- seconds from a readiness probe passing (the Ready condition's lastTransitionTime, set
  when the probe passed) to the watch delivering that change (median and max);
- memory per idle replica (RSS, and USS: the memory only that process holds);
- gateway overhead: mean latency of a no-op call through the gateway over the same call
  made to the replica directly, as a ratio (and both in milliseconds).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import time

import aiohttp
import psutil
from kubernetes_asyncio import client, config, watch

from faastrain_async.local import ClusterSettings, FunctionSpec, LocalCluster

NS = "openfaas-fn"


def _ready(pod: dict) -> tuple[bool, str | None]:
    for condition in pod["status"]["conditions"]:
        if condition["type"] == "Ready":
            return condition["status"] == "True", condition.get("lastTransitionTime")
    return False, None


async def scale_up(cluster: LocalCluster, replicas: int) -> tuple[float, list[float]]:
    """Seconds from the scale patch to the last Ready event; watch delays after each probe."""
    api = await config.new_client_from_config(config_file=str(cluster.kubeconfig_path))
    async with api:
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        start = (await core.list_namespaced_pod(NS, label_selector="faas_function=matmul")).metadata.resource_version
        ready: set[str] = {p.name for p in cluster.ready_pods("matmul")}
        delays: list[float] = []
        stream = watch.Watch()
        patched = time.time()
        await apps.patch_namespaced_deployment_scale("matmul", NS, {"spec": {"replicas": replicas}})
        last_ready = patched
        async with stream:
            async for event in stream.stream(
                core.list_namespaced_pod, NS, label_selector="faas_function=matmul", resource_version=start, timeout_seconds=120
            ):
                received = time.time()
                pod = event["raw_object"]
                is_ready, since = _ready(pod)
                if is_ready and pod["metadata"]["name"] not in ready:
                    ready.add(pod["metadata"]["name"])
                    last_ready = received
                    changed = dt.datetime.fromisoformat(since.replace("Z", "+00:00")).timestamp()  # type: ignore[union-attr]
                    delays.append(received - changed)
                if len(ready) >= replicas:
                    stream.stop()
        if len(ready) < replicas:
            raise RuntimeError(f"only {len(ready)} of {replicas} replicas became ready within the watch's 120 s")
        return last_ready - patched, delays


def replica_memory(cluster: LocalCluster, function: str) -> tuple[float, float]:
    """Mean RSS and USS (MiB) of the function's replica processes."""
    rss, uss = [], []
    for pod in cluster.pods(function):
        info = psutil.Process(pod.pid).memory_full_info()  # type: ignore[arg-type]
        rss.append(info.rss / 2**20)
        uss.append(info.uss / 2**20)
    return statistics.mean(rss), statistics.mean(uss)


async def gateway_overhead(cluster: LocalCluster, calls: int) -> tuple[float, float]:
    """Mean seconds of a no-op call through the gateway and straight to the replica."""
    pod = cluster.pods("noop")[0]
    direct_url = f"http://127.0.0.1:{pod.port}/"
    gateway_url = f"{cluster.gateway_url}/function/noop"
    async with aiohttp.ClientSession() as http:

        async def mean(url: str) -> float:
            for _ in range(20):  # warm the connections
                async with http.post(url) as response:
                    await response.read()
            started = time.perf_counter()
            for _ in range(calls):
                async with http.post(url) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"{url} answered {response.status}")
            return (time.perf_counter() - started) / calls

        # Interleave the two, so drift of the machine's load hits both alike.
        via, direct = [], []
        for _ in range(5):
            via.append(await mean(gateway_url))
            direct.append(await mean(direct_url))
        return statistics.median(via), statistics.median(direct)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", type=int, default=10, help="replicas to scale matmul to, from 1")
    parser.add_argument("--calls", type=int, default=200, help="calls per round of the overhead measurement (5 rounds)")
    parser.add_argument("--no-prometheus", action="store_true", help="run without Prometheus")
    args = parser.parse_args()
    functions = [FunctionSpec("matmul", kind="matmul", replicas=1), FunctionSpec("noop", kind="sleep", replicas=1, sleep_seconds=(0.0, 0.0))]
    settings = ClusterSettings(prometheus=not args.no_prometheus, probe_period=0.2)
    async with LocalCluster(functions, settings) as cluster:
        seconds, delays = await scale_up(cluster, args.replicas)
        await cluster.wait_ready("matmul", args.replicas, timeout=60)
        await asyncio.sleep(2.0)  # let the new replicas go idle
        rss, uss = replica_memory(cluster, "matmul")
        noop_rss, noop_uss = replica_memory(cluster, "noop")
        via, direct = await gateway_overhead(cluster, args.calls)
    print(f"machine: {psutil.cpu_count()} CPUs; readiness probe period {settings.probe_period}s")
    print(f"scale 1 -> {args.replicas} (matmul): patch to last Ready event      {seconds:.2f} s")
    print(f"probe passed -> watch delivered Ready: median {statistics.median(delays) * 1000:.1f} ms, max {max(delays) * 1000:.1f} ms ({len(delays)} pods)")
    print(f"memory per idle replica, matmul (numpy): RSS {rss:.1f} MiB, USS {uss:.1f} MiB")
    print(f"memory per idle replica, sleep:          RSS {noop_rss:.1f} MiB, USS {noop_uss:.1f} MiB")
    print(f"no-op call: via gateway {via * 1000:.2f} ms, direct {direct * 1000:.2f} ms, ratio {via / direct:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
