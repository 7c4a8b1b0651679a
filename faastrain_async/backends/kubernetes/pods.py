"""The function's pods as replica events: list, then watch from the list's resourceVersion."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from faastrain_async.backends.kubernetes.settings import KubernetesSettings
from faastrain_async.clock import Clock
from faastrain_async.errors import WatchError
from faastrain_async.events import PodEvent, PodPhase, PodSnapshot, ReplicaEvent
from faastrain_async.logger import get_logger

log = get_logger(__name__)

#: Errors after which a list or a watch is retried (with backoff) rather than given up on.
TRANSIENT = (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError)
#: A watch that ends sooner than this without an event counts as a failed attempt.
QUICK_END = 1.0


def pod_phase(pod: Any) -> PodPhase:
    """Where a V1Pod stands: terminating once deletion began, ready when its Ready condition is True."""
    if pod.metadata.deletion_timestamp is not None:
        return PodPhase.TERMINATING
    for condition in (pod.status.conditions or []) if pod.status else []:
        if condition.type == "Ready":
            return PodPhase.READY if condition.status == "True" else PodPhase.PENDING
    return PodPhase.PENDING


def _fatal(error: ApiException, settings: KubernetesSettings) -> WatchError | None:
    if error.status == 403:
        return WatchError(
            f"forbidden to list/watch pods in namespace {settings.namespace!r}: the service account needs "
            f"'list' and 'watch' on pods ({error.reason})"
        )
    if error.status == 401:
        return WatchError(f"401 unauthorised by the Kubernetes API server: check the kubeconfig's credentials ({error.reason})")
    if error.status == 404:
        return WatchError(f"namespace {settings.namespace!r} not found ({error.reason})")
    return None


async def watch_pods(*, core: client.CoreV1Api, settings: KubernetesSettings, clock: Clock) -> AsyncIterator[ReplicaEvent]:
    """Replica events of the pods ``settings.selector`` picks, forever.

    Lists first and yields a :class:`PodSnapshot`; then watches from the list's
    resourceVersion (with bookmarks) and yields a :class:`PodEvent` whenever a pod's phase
    changes. A watch that ends (server timeout, dropped connection) resumes from the last
    resourceVersion seen; 410 Gone re-lists. Connection errors and 5xx back off with jitter;
    ``watch_failures`` consecutive failures, 401, 403 or 404 raise :class:`WatchError`.
    """
    failures = 0

    async def back_off(error: BaseException) -> None:
        nonlocal failures
        failures += 1
        if failures > settings.watch_failures:
            raise WatchError(f"pod watch failed {failures} times in a row; last error: {error!r}") from error
        delay = settings.delay(failures, random.random())
        log.warning("pod watch retry", attempt=failures, delay_s=round(delay, 3), error=repr(error))
        await asyncio.sleep(delay)

    while True:  # list, then watch until 410
        try:
            listed = await core.list_namespaced_pod(
                settings.namespace, label_selector=settings.selector, _request_timeout=settings.request_timeout
            )
        except ApiException as e:
            if (fatal := _fatal(e, settings)) is not None:
                raise fatal from e
            await back_off(e)
            continue
        except TRANSIENT as e:
            await back_off(e)
            continue
        version = listed.metadata.resource_version
        known = {pod.metadata.name: pod_phase(pod) for pod in listed.items}
        yield PodSnapshot(dict(known), clock.now(), version)
        gone = False
        while not gone:
            started, events = time.monotonic(), 0
            try:
                async with watch.Watch() as stream:
                    async for event in stream.stream(
                        core.list_namespaced_pod,
                        settings.namespace,
                        label_selector=settings.selector,
                        resource_version=version,
                        allow_watch_bookmarks=True,
                        timeout_seconds=settings.watch_timeout,
                        _request_timeout=settings.watch_timeout + settings.request_timeout,
                    ):
                        events += 1
                        pod = event["object"]
                        if event["type"] == "BOOKMARK":  # its object stays a plain dict
                            raw = pod if isinstance(pod, dict) else event.get("raw_object", {})
                            version = raw.get("metadata", {}).get("resourceVersion") or version
                            continue
                        version = pod.metadata.resource_version or version
                        name = pod.metadata.name
                        phase = None if event["type"] == "DELETED" else pod_phase(pod)
                        if name in known and known[name] is phase:
                            continue
                        if phase is None:
                            known.pop(name, None)
                        else:
                            known[name] = phase
                        yield PodEvent(name, phase, clock.now(), version)
                if events or time.monotonic() - started >= QUICK_END:
                    failures = 0
                else:
                    await back_off(ConnectionError("the watch ended at once"))
            except ApiException as e:
                if e.status == 410:
                    log.info("pod watch expired, re-listing", resource_version=version)
                    gone = True
                elif (fatal := _fatal(e, settings)) is not None:
                    raise fatal from e
                else:
                    await back_off(e)
            except TRANSIENT as e:
                await back_off(e)
