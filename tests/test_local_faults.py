"""Pod life cycle (cold start, draining, crash restart) and every fault injection."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import psutil
import pytest
from kubernetes_asyncio import client, watch
from local_fixtures import NS, eventually, kube, running_cluster, settings

from faastrain_async.errors import ConfigError
from faastrain_async.local import FunctionSpec, LocalClusterError

pytestmark = pytest.mark.slow


async def test_cold_start_keeps_a_new_replica_not_ready() -> None:
    async with running_cluster([FunctionSpec("nap", kind="sleep", replicas=0, cold_start=1.5)], settings()) as cluster:
        await cluster.scale("nap", 1)
        pod = cluster.pods("nap")[0]
        await eventually(lambda: pod.pid is not None and pod.phase == "Running")
        async with aiohttp.ClientSession() as http:
            # The process serves at once, but its readiness waits for the cold start.
            await eventually(lambda: _health(http, pod.port, 503, "cold start"))
            assert not pod.ready
            await cluster.wait_ready("nap", 1, timeout=10)
            assert await _health(http, pod.port, 200, "OK")


async def _health(http: aiohttp.ClientSession, port: int, status: int, text: str) -> bool:
    try:
        async with http.get(f"http://127.0.0.1:{port}/_/health") as response:
            return response.status == status and await response.text() == text
    except aiohttp.ClientConnectionError:
        return False


async def test_scale_down_drains_in_flight_calls() -> None:
    async with running_cluster([FunctionSpec("nap", kind="sleep", replicas=1, sleep_seconds=(1.0, 1.0))], settings()) as cluster:
        pid = cluster.pods("nap")[0].pid
        async with aiohttp.ClientSession() as http:
            call = asyncio.create_task(http.post(f"{cluster.gateway_url}/function/nap"))
            await eventually(lambda: bool(cluster._gateway._inflight))  # noqa: SLF001 - the call is in flight
            await cluster.scale("nap", 0)
            pod = cluster.pods("nap")[0]
            assert pod.terminating and not pod.ready
            async with http.post(f"{cluster.gateway_url}/function/nap") as refused:
                assert refused.status == 503  # terminating replicas get no new calls
            response = await call
            assert response.status == 200
            response.release()
        await cluster.wait_ready("nap", 0, timeout=10)
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


async def test_killed_replica_is_restarted_and_watch_sees_it() -> None:
    async with running_cluster([FunctionSpec("nap", kind="sleep", replicas=1)], settings()) as cluster, kube(cluster) as api:
        core = client.CoreV1Api(api)
        start = (await core.list_namespaced_pod(NS)).metadata.resource_version
        pod = cluster.pods("nap")[0]
        old_pid = cluster.kill_replica(pod.name)
        await eventually(lambda: pod.restart_count == 1 and pod.ready and pod.pid not in (None, old_pid))
        states = []
        stream = watch.Watch()
        async with stream:
            async for event in stream.stream(core.list_namespaced_pod, NS, resource_version=start, timeout_seconds=1):
                obj = event["object"]
                states.append((obj.status.container_statuses[0].restart_count, obj.status.container_statuses[0].ready))
        assert (1, False) in states and states[-1] == (1, True)
        assert states.index((1, False)) < len(states) - 1
        with pytest.raises(LocalClusterError, match="no pod named"):
            cluster.kill_replica("absent")


async def test_readiness_fault_flips_ready_both_ways() -> None:
    async with running_cluster([FunctionSpec("nap", kind="sleep", replicas=2)], settings()) as cluster, kube(cluster) as api:
        pod = cluster.pods("nap")[0]
        await cluster.fail_readiness(pod.name)
        await eventually(lambda: not pod.ready)
        deployment = await client.AppsV1Api(api).read_namespaced_deployment("nap", NS)
        assert deployment.status.ready_replicas == 1 and deployment.status.replicas == 2
        assert pod.pid is not None and pod.restart_count == 0  # failing readiness does not restart
        await cluster.fail_readiness(pod.name, failing=False)
        await cluster.wait_ready("nap", 2, timeout=10)


async def test_dropped_watch_connection_breaks_the_client_stream() -> None:
    async with running_cluster([FunctionSpec("nap", kind="sleep", replicas=1)], settings()) as cluster, kube(cluster) as api:
        core = client.CoreV1Api(api)
        seen: list[str] = []

        async def follow() -> None:
            stream = watch.Watch()
            async with stream:
                async for event in stream.stream(core.list_namespaced_pod, NS, timeout_seconds=30):
                    seen.append(event["type"])

        task = asyncio.create_task(follow())
        await eventually(lambda: seen == ["ADDED"])
        assert cluster.drop_watches() == 1
        with pytest.raises(aiohttp.ClientError):
            await asyncio.wait_for(task, 10)


async def test_injected_scale_failures_then_success() -> None:
    async with running_cluster([FunctionSpec("nap", kind="sleep", replicas=1)], settings()) as cluster, kube(cluster) as api:
        apps = client.AppsV1Api(api)
        cluster.fail_next_scale_requests(2, status=409)
        cluster.fail_next_scale_requests(1, status=500)
        for expected in (409, 409, 500):
            with pytest.raises(client.ApiException) as caught:
                await apps.patch_namespaced_deployment_scale("nap", NS, {"spec": {"replicas": 2}})
            assert caught.value.status == expected
        assert (await apps.read_namespaced_deployment_scale("nap", NS)).spec.replicas == 1
        await apps.patch_namespaced_deployment_scale("nap", NS, {"spec": {"replicas": 2}})
        await cluster.wait_ready("nap", 2, timeout=10)
        with pytest.raises(ConfigError, match="status=404"):
            cluster.fail_next_scale_requests(1, status=404)


async def test_prometheus_stop_and_restart() -> None:
    async with running_cluster([FunctionSpec("nap", kind="sleep", replicas=1)], settings(prometheus=True)) as cluster:
        assert cluster.prometheus_url is not None
        url = f"{cluster.prometheus_url}/api/v1/query"
        first = cluster.prometheus_pid
        await cluster.stop_prometheus()
        assert cluster.prometheus_pid is None and not psutil.pid_exists(first or -1)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            with pytest.raises(aiohttp.ClientConnectionError):
                async with http.get(url, params={"query": "up"}):
                    pass
            await cluster.start_prometheus()
            async with http.get(url, params={"query": 'up{job="gateway"}'}) as response:
                assert (await response.json())["data"]["result"][0]["value"][1] == "1"
        assert cluster.prometheus_pid not in (None, first)


async def test_replicas_die_when_the_parent_is_killed(tmp_path: Path) -> None:
    # A child process runs a cluster; SIGKILL it and its replicas must go too. Its state
    # goes to tmp_path: a killed cluster cannot remove a temporary directory of its own.
    script = (
        "import asyncio, sys\n"
        "from faastrain_async.local import LocalCluster, FunctionSpec, ClusterSettings\n"
        "settings = ClusterSettings(prometheus=False, probe_period=0.1, state_dir=sys.argv[1])\n"
        "async def main():\n"
        "    async with LocalCluster([FunctionSpec('nap', kind='sleep', replicas=2)], settings) as c:\n"
        "        print('PIDS', ' '.join(str(p.pid) for p in c.pods()), flush=True)\n"
        "        await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, str(tmp_path), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        line = b""
        while not line.startswith(b"PIDS"):
            line = await asyncio.wait_for(process.stdout.readline(), 60)  # type: ignore[union-attr]
            assert line, "the cluster process ended before it was up"
        pids = [int(p) for p in line.split()[1:]]
        assert len(pids) == 2 and all(psutil.pid_exists(p) for p in pids)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        await asyncio.wait_for(process.wait(), 10)

    def gone() -> bool:
        return all(not psutil.pid_exists(p) or psutil.Process(p).status() == psutil.STATUS_ZOMBIE for p in pids)

    await eventually(gone, timeout=10)
