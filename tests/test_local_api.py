"""The API server through kubernetes_asyncio: scale subresource, pod watches, errors."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from kubernetes_asyncio import client, watch
from local_fixtures import NS, eventually, kube, running_cluster, settings

from faastrain_async.local import FunctionSpec

pytestmark = pytest.mark.slow


async def collect(core: client.CoreV1Api, events: list[dict], *, resource_version: str, timeout: int, **kwargs: object) -> None:
    """Append every event of a pod watch to ``events`` until the server ends the watch."""
    stream = watch.Watch()
    async with stream:
        async for event in stream.stream(
            core.list_namespaced_pod, NS, resource_version=resource_version, timeout_seconds=timeout, **kwargs
        ):
            events.append(event)


def summary(events: list[dict]) -> list[tuple[str, str, int, bool, bool]]:
    out = []
    for event in events:
        pod = event["raw_object"]
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"]["conditions"])
        terminating = "deletionTimestamp" in pod["metadata"]
        out.append((event["type"], pod["metadata"]["name"], int(pod["metadata"]["resourceVersion"]), ready, terminating))
    return out


async def test_scale_1_4_2_and_watch_order() -> None:
    async with running_cluster([FunctionSpec("matmul", kind="matmul", replicas=1, matmul_size=(50, 50))], settings()) as cluster, kube(cluster) as api:
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        listed = await core.list_namespaced_pod(NS, label_selector="faas_function=matmul")
        assert len(listed.items) == 1 and listed.items[0].status.container_statuses[0].ready
        events: list[dict] = []
        watcher = asyncio.create_task(
            collect(core, events, resource_version=listed.metadata.resource_version, timeout=30, label_selector="faas_function=matmul")
        )
        try:
            scale = await apps.patch_namespaced_deployment_scale("matmul", NS, {"spec": {"replicas": 4}})
            assert scale.spec.replicas == 4
            await cluster.wait_ready("matmul", 4, timeout=30)
            deployment = await apps.read_namespaced_deployment("matmul", NS)
            assert (deployment.spec.replicas, deployment.status.replicas, deployment.status.ready_replicas) == (4, 4, 4)
            assert deployment.status.available_replicas == 4
            await apps.patch_namespaced_deployment_scale("matmul", NS, {"spec": {"replicas": 2}})
            await cluster.wait_ready("matmul", 2, timeout=30)
            await eventually(lambda: sum(e["type"] == "DELETED" for e in events) == 2)
        finally:
            cluster.drop_watches()
            await asyncio.gather(watcher, return_exceptions=True)
        rows = summary(events)
        versions = [r[2] for r in rows]
        assert versions == sorted(versions) and len(set(versions)) == len(versions)
        added = [r[1] for r in rows if r[0] == "ADDED"]
        deleted = [r[1] for r in rows if r[0] == "DELETED"]
        assert len(added) == 3 and len(deleted) == 2
        for name in added:
            kinds = [(r[0], r[3], r[4]) for r in rows if r[1] == name]
            first_ready = next(i for i, k in enumerate(kinds) if k[0] == "MODIFIED" and k[1])
            assert kinds[0][0] == "ADDED" and first_ready > 0
        for name in deleted:
            kinds = [(r[0], r[4]) for r in rows if r[1] == name]
            terminating = next(i for i, k in enumerate(kinds) if k[1])
            assert kinds[-1][0] == "DELETED" and terminating < len(kinds) - 1
        scale = await apps.read_namespaced_deployment_scale("matmul", NS)
        assert (scale.spec.replicas, scale.status.replicas, scale.status.selector) == (2, 2, "faas_function=matmul")


async def test_resumed_watch_misses_nothing_and_old_one_gets_410() -> None:
    async with running_cluster([FunctionSpec("matmul", kind="matmul", replicas=1, matmul_size=(50, 50))], settings(watch_history=1000)) as cluster, kube(cluster) as api:
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        start = (await core.list_namespaced_pod(NS)).metadata.resource_version
        await apps.patch_namespaced_deployment_scale("matmul", NS, {"spec": {"replicas": 3}})
        await cluster.wait_ready("matmul", 3, timeout=30)
        await apps.patch_namespaced_deployment_scale("matmul", NS, {"spec": {"replicas": 1}})
        await cluster.wait_ready("matmul", 1, timeout=30)
        everything: list[dict] = []
        await collect(core, everything, resource_version=start, timeout=1)
        assert len(everything) >= 8
        # Resume from the middle, as a client whose connection broke there would.
        middle = everything[len(everything) // 2 - 1]["raw_object"]["metadata"]["resourceVersion"]
        tail: list[dict] = []
        await collect(core, tail, resource_version=middle, timeout=1)
        assert summary(tail) == summary(everything)[len(everything) // 2 :]

        cluster.compact_history()
        with pytest.raises(client.ApiException) as caught:
            await collect(core, [], resource_version=start, timeout=2)
        assert caught.value.status == 410
        # A list is always served (current state), and a watch from its version works.
        fresh = await core.list_namespaced_pod(NS)
        assert len(fresh.items) == 1
        after: list[dict] = []
        await collect(core, after, resource_version=fresh.metadata.resource_version, timeout=1)
        assert after == []


async def test_history_limit_expires_old_versions_and_bookmarks_arrive() -> None:
    async with running_cluster([FunctionSpec("matmul", kind="matmul", replicas=1, matmul_size=(50, 50))], settings(watch_history=3, bookmark_interval=0.3)) as cluster, kube(cluster) as api:
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        start = (await core.list_namespaced_pod(NS)).metadata.resource_version
        await apps.patch_namespaced_deployment_scale("matmul", NS, {"spec": {"replicas": 3}})
        await cluster.wait_ready("matmul", 3, timeout=30)
        with pytest.raises(client.ApiException) as caught:
            await collect(core, [], resource_version=start, timeout=2)
        assert caught.value.status == 410 and "too old resource version" in caught.value.reason
        # Raw watch: the 410 arrives as an ERROR event with a Status, over HTTP 200.
        headers = {"Authorization": f"Bearer {cluster.token}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            url = f"{cluster.api_url}/api/v1/namespaces/{NS}/pods?watch=1&resourceVersion={start}&timeoutSeconds=2"
            async with http.get(url) as response:
                assert response.status == 200
                event = json.loads(await response.content.readline())
            assert event["type"] == "ERROR" and event["object"]["kind"] == "Status" and event["object"]["code"] == 410
        current = (await core.list_namespaced_pod(NS)).metadata.resource_version
        events: list[dict] = []
        await collect(core, events, resource_version=current, timeout=1, allow_watch_bookmarks=True)
        assert events and all(e["type"] == "BOOKMARK" for e in events)
        assert int(events[-1]["raw_object"]["metadata"]["resourceVersion"]) >= int(current)


async def test_watch_without_version_starts_with_current_pods() -> None:
    async with running_cluster([FunctionSpec("matmul", kind="matmul", replicas=2, matmul_size=(50, 50)), FunctionSpec("other", kind="sleep")], settings()) as cluster, kube(cluster) as api:
        core = client.CoreV1Api(api)
        events: list[dict] = []
        stream = watch.Watch()
        async with stream:
            async for event in stream.stream(core.list_namespaced_pod, NS, label_selector="faas_function=matmul", timeout_seconds=1):
                events.append(event)
        assert [e["type"] for e in events] == ["ADDED", "ADDED"]
        assert {e["object"].metadata.name for e in events} == {p.name for p in cluster.pods("matmul")}
        assert all(e["object"].metadata.labels["faas_function"] == "matmul" for e in events)


async def test_deployment_get_list_and_patches() -> None:
    async with running_cluster([FunctionSpec("matmul", kind="matmul", replicas=1, matmul_size=(50, 50)), FunctionSpec("nap", kind="sleep", replicas=0)], settings()) as cluster, kube(cluster) as api:
        apps = client.AppsV1Api(api)
        listed = await apps.list_namespaced_deployment(NS)
        assert sorted(d.metadata.name for d in listed.items) == ["matmul", "nap"]
        nap = await apps.read_namespaced_deployment("nap", NS)
        # As the real API server: zero counts are absent from the status.
        assert nap.spec.replicas == 0 and nap.status.ready_replicas is None and nap.status.replicas is None
        requests = nap.spec.template.spec.containers[0].resources.requests
        assert requests == {"cpu": "100m", "memory": "128Mi"}
        assert nap.spec.selector.match_labels == {"faas_function": "nap"}
        patched = await apps.patch_namespaced_deployment("nap", NS, {"spec": {"replicas": 2}, "metadata": {"annotations": {"a": "b"}}})
        assert patched.spec.replicas == 2 and patched.metadata.annotations == {"a": "b"}
        await cluster.wait_ready("nap", 2, timeout=30)
        await apps.patch_namespaced_deployment("nap", NS, [{"op": "replace", "path": "/spec/replicas", "value": 1}])
        await cluster.wait_ready("nap", 1, timeout=30)
        await apps.replace_namespaced_deployment_scale("nap", NS, {"spec": {"replicas": 0}, "metadata": {"name": "nap"}})
        await cluster.wait_ready("nap", 0, timeout=30)
        generation = (await apps.read_namespaced_deployment("nap", NS)).metadata.generation
        assert generation == 4


async def test_bad_requests_get_kubernetes_status_errors() -> None:
    async with running_cluster([FunctionSpec("matmul", kind="matmul", replicas=1, matmul_size=(50, 50))], settings(max_replicas=20)) as cluster, kube(cluster) as api:
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)

        async def status_of(call: object) -> dict:
            with pytest.raises(client.ApiException) as caught:
                await call  # type: ignore[misc]
            body = json.loads(caught.value.body)
            assert body["kind"] == "Status" and body["status"] == "Failure" and body["code"] == caught.value.status
            return body

        body = await status_of(core.list_namespaced_service(NS))
        assert body["code"] == 404 and body["reason"] == "NotFound"
        body = await status_of(apps.read_namespaced_deployment("nope", NS))
        assert body["code"] == 404 and '"nope" not found' in body["message"]
        body = await status_of(apps.patch_namespaced_deployment_scale("matmul", NS, {"spec": {"replicas": -1}}))
        assert body["code"] == 422 and "Invalid value: -1" in body["message"]
        body = await status_of(apps.patch_namespaced_deployment_scale("matmul", NS, {"spec": {"replicas": "three"}}))
        assert body["code"] == 422 and '"three"' in body["message"]
        body = await status_of(apps.patch_namespaced_deployment_scale("matmul", NS, {"spec": {"replicas": 21}}))
        assert body["code"] == 422 and "at most 20" in body["message"]
        body = await status_of(apps.patch_namespaced_deployment_scale("matmul", NS, [{"op": "frobnicate", "path": "/spec/replicas"}]))
        assert body["code"] == 422 and "frobnicate" in body["message"]
        body = await status_of(apps.patch_namespaced_deployment_scale("matmul", NS, [{"op": "replace", "path": "/spec/nothing", "value": 1}]))
        assert body["code"] == 422 and "/spec/nothing" in body["message"]
        body = await status_of(apps.patch_namespaced_deployment("matmul", NS, {"spec": {"template": {"spec": {"containers": []}}}}))
        assert body["code"] == 422 and "spec.replicas" in body["message"]
        body = await status_of(apps.patch_namespaced_deployment_scale("matmul", NS, {"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 2}}))
        assert body["code"] == 409 and body["reason"] == "Conflict"
        body = await status_of(core.list_namespaced_pod(NS, label_selector="a in (b"))
        assert body["code"] == 400 and "a in (b" in body["message"]
        headers = {"Authorization": f"Bearer {cluster.token}"}
        url = f"{cluster.api_url}/apis/apps/v1/namespaces/{NS}/deployments/matmul/scale"
        async with aiohttp.ClientSession() as http:
            async with http.patch(url, data=b"{not json", headers={**headers, "Content-Type": "application/merge-patch+json"}) as response:
                assert response.status == 400 and (await response.json())["reason"] == "BadRequest"
            async with http.patch(url, data=b"{}", headers={**headers, "Content-Type": "text/plain"}) as response:
                assert response.status == 415
            async with http.get(url) as response:
                assert response.status == 401 and (await response.json())["kind"] == "Status"
        assert (await apps.read_namespaced_deployment_scale("matmul", NS)).spec.replicas == 1


async def test_a_watch_whose_client_goes_away_leaves_no_task_behind() -> None:
    async with running_cluster([FunctionSpec("api", replicas=1)], settings()) as cluster:
        def waiting_on_a_queue() -> list[asyncio.Task[object]]:
            return [t for t in asyncio.all_tasks() if "Queue.get" in repr(t.get_coro())]

        headers = {"Authorization": f"Bearer {cluster.token}"}
        url = f"{cluster.api_url}/api/v1/namespaces/{NS}/pods?watch=true&timeoutSeconds=60"
        async with aiohttp.ClientSession(headers=headers) as session:
            async with session.get(url) as response:
                assert response.status == 200
                await response.content.readline()  # the replica as an ADDED event: the watch is open
                await eventually(lambda: len(waiting_on_a_queue()) == 1)
        # The client hung up while the server waited for the next event.
        await eventually(lambda: not waiting_on_a_queue())
