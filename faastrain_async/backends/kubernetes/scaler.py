"""Scaling the function: through the Deployment's scale subresource, or the OpenFaaS gateway."""

from __future__ import annotations

import asyncio
import base64
import json
import random
from collections.abc import Awaitable, Callable

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from faastrain_async.backends.kubernetes.pods import TRANSIENT, watch_pods
from faastrain_async.backends.kubernetes.settings import KubernetesSettings
from faastrain_async.backends.ports import EventSink
from faastrain_async.clock import Clock
from faastrain_async.errors import ScaleRejected
from faastrain_async.logger import get_logger

log = get_logger(__name__)


def status_message(body: object) -> str:
    """The message of an API error's body: a Kubernetes Status object (JSON bytes), or raw text."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    try:
        status = json.loads(text)
    except ValueError:
        return text
    return str(status.get("message", text)) if isinstance(status, dict) else text


async def with_retries(what: str, settings: KubernetesSettings, attempt: Callable[[], Awaitable[None]]) -> None:
    """Run ``attempt`` until it succeeds; retry 409, 429, 5xx and connection errors with backoff.

    401, 403, 404 and 422 are final and raise :class:`ScaleRejected` at once, naming what is
    missing; so does running out of retries.
    """
    last: BaseException | None = None
    for n in range(settings.retries + 1):
        if n:
            await asyncio.sleep(settings.delay(n, random.random()))
        try:
            await attempt()
            return
        except ApiException as e:
            last = e
            if e.status == 403:
                raise ScaleRejected(
                    f"{what}: forbidden; the service account needs 'get' and 'patch' on deployments/scale "
                    f"in namespace {settings.namespace!r} ({e.reason})"
                ) from e
            if e.status == 404:
                raise ScaleRejected(
                    f"{what}: deployment {settings.namespace}/{settings.deployment_name} not found ({e.reason})"
                ) from e
            if e.status in (401, 422) or (e.status is not None and 400 <= e.status < 500 and e.status not in (409, 429)):
                raise ScaleRejected(f"{what}: refused with {e.status} {e.reason}: {status_message(e.body)}") from e
            log.warning("scale retry", what=what, status=e.status, attempt=n + 1)
        except aiohttp.ClientResponseError as e:
            last = e
            if e.status in (401, 403, 404, 422):
                raise ScaleRejected(f"{what}: the gateway refused with {e.status} {e.message}") from e
            log.warning("scale retry", what=what, status=e.status, attempt=n + 1)
        except TRANSIENT as e:
            last = e
            log.warning("scale retry", what=what, error=repr(e), attempt=n + 1)
    raise ScaleRejected(f"{what}: gave up after {settings.retries + 1} attempts; last error: {last!r}") from last


class _PodWatcher:
    """The replica events of the function's pods, for either way of scaling."""

    def __init__(self, core: client.CoreV1Api, settings: KubernetesSettings, clock: Clock) -> None:
        self._core = core
        self.settings = settings
        self._clock = clock

    async def watch(self, sink: EventSink) -> None:
        async for event in watch_pods(core=self._core, settings=self.settings, clock=self._clock):
            sink(event)


class DeploymentScaler(_PodWatcher):
    """Patches ``spec.replicas`` through the Deployment's ``scale`` subresource."""

    def __init__(self, apps: client.AppsV1Api, core: client.CoreV1Api, settings: KubernetesSettings, clock: Clock) -> None:
        super().__init__(core, settings, clock)
        self._apps = apps

    async def set_replicas(self, n: int) -> None:
        s = self.settings

        async def patch() -> None:
            await self._apps.patch_namespaced_deployment_scale(
                s.deployment_name, s.namespace, {"spec": {"replicas": n}}, _request_timeout=s.request_timeout
            )

        await with_retries(f"scale {s.namespace}/{s.deployment_name} to {n}", s, patch)


class GatewayScaler(_PodWatcher):
    """Asks the OpenFaaS gateway: ``POST /system/scale-function/<name>``."""

    def __init__(self, http: aiohttp.ClientSession, core: client.CoreV1Api, settings: KubernetesSettings, clock: Clock) -> None:
        super().__init__(core, settings, clock)
        self._http = http

    async def set_replicas(self, n: int) -> None:
        s = self.settings
        url = f"{s.gateway_url}/system/scale-function/{s.function}"
        body = {"serviceName": s.function, "namespace": s.namespace, "replicas": n}

        headers = {}
        if s.gateway_user is not None and s.gateway_password is not None:
            token = base64.b64encode(f"{s.gateway_user}:{s.gateway_password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"

        async def post() -> None:
            timeout = aiohttp.ClientTimeout(total=s.request_timeout)
            async with self._http.post(url, json=body, timeout=timeout, headers=headers) as response:
                response.raise_for_status()

        await with_retries(f"scale {s.function} to {n} through the gateway", s, post)
