"""The API server: the Kubernetes REST subset the environment uses, over real HTTP.

- apps/v1 Deployments: get, list (and watch), patch (merge, strategic merge, JSON patch),
  and the ``scale`` subresource (get, patch, put);
- v1 Pods: get, list and watch (labelSelector, fieldSelector on metadata.name /
  metadata.namespace / status.phase, resourceVersion, timeoutSeconds,
  allowWatchBookmarks; a too old resourceVersion gets an ERROR event with a 410 Status);
- metrics.k8s.io/v1beta1 pods: each pod's measured CPU and memory;
- errors as ``v1.Status`` objects; a bearer token from the kubeconfig is required.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import web

from faastrain_async.errors import ConfigError
from faastrain_async.local.controller import Controller
from faastrain_async.local.objects import Deployment, status_object
from faastrain_async.local.patching import JSON_PATCH, MERGE_TYPES, SUPPORTED, PatchError, json_patch, merge_patch
from faastrain_async.local.pods import PodRunner
from faastrain_async.local.settings import ClusterSettings
from faastrain_async.local.store import Expired, Store, WatchEvent, matches, parse_selector
from faastrain_async.local.usage import UsageSampler, pod_metrics
from faastrain_async.logger import get_logger

log = get_logger(__name__)

#: Whether an object (namespace, labels, JSON) passes a request's selectors.
Keep = Callable[[str, dict[str, str], dict[str, Any]], bool]

#: Server-side watch timeout when the client gives none (Kubernetes picks 30–60 min).
DEFAULT_WATCH_SECONDS = 1800
_FIELDS = {"metadata.name": ("metadata", "name"), "metadata.namespace": ("metadata", "namespace"), "status.phase": ("status", "phase")}
_REASONS = {400: "BadRequest", 401: "Unauthorized", 404: "NotFound", 405: "MethodNotAllowed", 409: "Conflict",
            410: "Expired", 415: "UnsupportedMediaType", 422: "Invalid", 500: "InternalError"}  # fmt: skip


class ApiError(Exception):
    """An error answered as a Kubernetes Status object."""

    def __init__(self, code: int, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


def _conflict(name: str) -> ApiError:
    subject = f'deployments.apps "{name}"' if name else "deployments.apps"
    message = f"Operation cannot be fulfilled on {subject}: the object has been modified; please apply your changes to the latest version and try again"
    return ApiError(409, message)


def _invalid(what: str, name: str, field: str, why: str) -> ApiError:
    return ApiError(422, f'{what} "{name}" is invalid: {field}: {why}')


def _error_response(code: int, message: str, details: dict[str, Any] | None = None) -> web.Response:
    return web.json_response(status_object(code, _REASONS.get(code, "Unknown"), message, details=details), status=code)


class ApiServer:
    """The aiohttp application of the Kubernetes API subset; ``app`` is served by the cluster."""

    def __init__(
        self,
        *,
        store: Store,
        controller: Controller,
        runner: PodRunner,
        sampler: UsageSampler,
        settings: ClusterSettings,
        token: str,
    ) -> None:
        self._store = store
        self._controller = controller
        self._runner = runner
        self._sampler = sampler
        self._settings = settings
        self._token = token
        #: Status codes for the next scale requests (fault injection), oldest first.
        self.scale_faults: deque[int] = deque()
        self.app = web.Application(middlewares=[self._errors, self._auth])
        add = self.app.router.add_route
        for path in ("/version", "/healthz", "/readyz", "/livez"):
            add("GET", path, self._health)
        add("GET", "/apis/apps/v1/deployments", self._list_deployments)
        add("GET", "/apis/apps/v1/namespaces/{namespace}/deployments", self._list_deployments)
        add("GET", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}", self._get_deployment)
        add("PATCH", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}", self._patch_deployment)
        add("GET", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", self._get_scale)
        add("PATCH", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", self._patch_scale)
        add("PUT", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", self._put_scale)
        add("GET", "/api/v1/pods", self._list_pods)
        add("GET", "/api/v1/namespaces/{namespace}/pods", self._list_pods)
        add("GET", "/api/v1/namespaces/{namespace}/pods/{name}", self._get_pod)
        add("GET", "/apis/metrics.k8s.io/v1beta1/pods", self._pod_metrics)
        add("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods", self._pod_metrics)
        add("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods/{name}", self._pod_metrics)
        add("*", "/{tail:.*}", self._not_found)

    # --- middlewares ---------------------------------------------------------------------

    @web.middleware
    async def _errors(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return _error_response(exc.code, exc.message, exc.details)
        except web.HTTPMethodNotAllowed as exc:
            return _error_response(405, f"the server does not allow this method on the requested resource: {exc.method}")
        except web.HTTPException:
            raise
        except Exception:
            # A bug of ours: the client gets a 500 Status, and the log the traceback.
            log.exception("api server request failed", method=request.method, path=request.path)
            return _error_response(500, f"internal error while serving {request.method} {request.path}")

    @web.middleware
    async def _auth(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        if request.path not in ("/healthz", "/readyz", "/livez") and request.headers.get("Authorization") != f"Bearer {self._token}":
            raise ApiError(401, "Unauthorized: a bearer token from the cluster's kubeconfig is required")
        return await handler(request)

    # --- request parsing and checks ------------------------------------------------------

    async def _health(self, request: web.Request) -> web.Response:
        if request.path == "/version":
            return web.json_response({"major": "1", "minor": "30", "gitVersion": "v1.30.0-faastrain-local", "platform": "linux/amd64"})
        return web.Response(text="ok")

    async def _not_found(self, request: web.Request) -> web.Response:
        raise ApiError(404, f"the server could not find the requested resource ({request.method} {request.path})")

    def _deployment(self, request: web.Request) -> Deployment:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        deployment = self._controller.get(name)
        if deployment is None or namespace != "openfaas-fn":
            raise ApiError(404, f'deployments.apps "{name}" not found', details={"name": name, "group": "apps", "kind": "deployments"})
        return deployment

    def _filters(self, request: web.Request) -> Keep:
        namespace = request.match_info.get("namespace")
        try:
            selector = parse_selector(request.query.get("labelSelector", ""))
        except ConfigError as exc:
            raise ApiError(400, str(exc)) from exc
        fields: list[tuple[tuple[str, str], bool, str]] = []
        terms = [t.strip() for t in request.query.get("fieldSelector", "").split(",")]
        for term in (t for t in terms if t):
            key, op, value = term.partition("!=") if "!=" in term else term.replace("==", "=").partition("=")
            if key.strip() not in _FIELDS or not op:
                raise ApiError(400, f"fieldSelector {term!r} is not supported: use {', '.join(_FIELDS)} with =, == or !=")
            fields.append((_FIELDS[key.strip()], op == "!=", value.strip()))

        def keep(object_namespace: str, labels: dict[str, str], obj: dict[str, Any]) -> bool:
            if namespace is not None and object_namespace != namespace:
                return False
            for (section, key), negate, value in fields:
                if ((obj.get(section) or {}).get(key) == value) == negate:
                    return False
            return matches(selector, labels)

        return keep

    def _objects(self, kind: str) -> list[dict[str, Any]]:
        if kind == "pods":
            return [pod.to_json() for pod in self._runner.pods.values()]
        return [deployment.to_json() for deployment in self._controller.deployments.values()]

    async def _list_or_watch(self, request: web.Request, kind: str, list_kind: str, api_version: str) -> web.StreamResponse:
        keep = self._filters(request)
        if request.query.get("watch", "").lower() in ("1", "true"):
            return await self._watch(request, kind, keep)
        items = [o for o in self._objects(kind) if keep(o["metadata"]["namespace"], o["metadata"].get("labels") or {}, o)]
        return web.json_response(
            {
                "kind": list_kind,
                "apiVersion": api_version,
                "metadata": {"resourceVersion": str(self._store.resource_version)},
                "items": items,
            }
        )

    async def _watch(self, request: web.Request, kind: str, keep: Keep) -> web.StreamResponse:
        asked = request.query.get("resourceVersion", "")
        try:
            since = None if asked in ("", "0") else int(asked)
            timeout = float(request.query.get("timeoutSeconds", DEFAULT_WATCH_SECONDS))
        except ValueError as exc:
            raise ApiError(400, f"resourceVersion {asked!r} or timeoutSeconds is not a number: {exc}") from exc
        bookmarks = request.query.get("allowWatchBookmarks", "").lower() in ("1", "true")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        try:
            watcher, backlog = self._store.open_watch(kind, since)
            # Taken in the same synchronous step as the registration: nothing falls between.
            initial = self._objects(kind) if since is None else []
        except Expired as exc:
            # As the real API server does: 200, then one ERROR event carrying a 410 Status.
            await response.prepare(request)
            expired = {"type": "ERROR", "object": status_object(410, "Expired", str(exc))}
            await response.write(json.dumps(expired).encode() + b"\n")
            await response.write_eof()
            return response
        try:
            await response.prepare(request)
            # No resourceVersion: the current state as synthetic ADDED events first.
            for obj in initial:
                await self._send(response, "ADDED", obj, keep)
            for event in backlog:
                await self._send(response, event.type, event.object, keep)
            deadline = time.monotonic() + timeout
            dropped = asyncio.ensure_future(watcher.dropped.wait())
            getter: asyncio.Future[WatchEvent] | None = None
            try:
                while (left := deadline - time.monotonic()) > 0:
                    wait = min(left, self._settings.bookmark_interval) if bookmarks else left
                    getter = asyncio.ensure_future(watcher.queue.get())
                    done, _ = await asyncio.wait({getter, dropped}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                    if dropped in done:
                        getter.cancel()
                        # Fault injection: cut the connection as a network failure would.
                        if request.transport is not None:
                            request.transport.abort()
                        return response
                    if getter in done:
                        event = getter.result()
                        await self._send(response, event.type, event.object, keep)
                    else:
                        getter.cancel()
                        if bookmarks and deadline - time.monotonic() > 0:
                            # The queue is empty, so every event up to now has been sent.
                            meta = {"resourceVersion": str(self._store.resource_version)}
                            obj = {"kind": "Pod" if kind == "pods" else "Deployment", "apiVersion": "v1", "metadata": meta}
                            await response.write(json.dumps({"type": "BOOKMARK", "object": obj}).encode() + b"\n")
            finally:
                # Also when the handler is cancelled (the client went away) inside the wait.
                dropped.cancel()
                if getter is not None:
                    getter.cancel()
            await response.write_eof()
        except ConnectionResetError:
            # The client went away: nothing left to send it.
            log.debug("watch client disconnected", kind=kind)
        finally:
            self._store.close_watch(watcher)
        return response

    async def _send(self, response: web.StreamResponse, type_: str, obj: dict[str, Any], keep: Keep) -> None:
        metadata = obj["metadata"]
        if keep(metadata.get("namespace", ""), metadata.get("labels") or {}, obj):
            await response.write(json.dumps({"type": type_, "object": obj}).encode() + b"\n")

    async def _body(self, request: web.Request, *, patch: bool) -> tuple[Any, str]:
        content_type = request.content_type
        if patch and content_type not in SUPPORTED:
            raise ApiError(415, f"the body of a PATCH must be one of {', '.join(SUPPORTED)}, not {content_type!r}")
        raw = await request.read()
        try:
            return json.loads(raw), content_type
        except ValueError as exc:
            raise ApiError(400, f"the request body is not valid JSON: {exc}") from exc

    def _apply_patch(self, current: dict[str, Any], body: Any, content_type: str) -> dict[str, Any]:
        try:
            if content_type == JSON_PATCH:
                patched = json_patch(current, body)
            elif content_type in MERGE_TYPES:
                if not isinstance(body, dict):
                    raise PatchError(f"a merge patch must be a JSON object, got {type(body).__name__}")
                patched = merge_patch(current, body)
            else:  # pragma: no cover - filtered by _body
                raise PatchError(f"unsupported patch type {content_type!r}")
        except PatchError as exc:
            raise ApiError(422, f"the patch cannot be applied: {exc}") from exc
        if not isinstance(patched, dict):
            raise ApiError(422, "the patch must leave an object")
        return patched

    def _check_fault(self) -> None:
        if self.scale_faults:
            code = self.scale_faults.popleft()
            if code == 409:
                raise _conflict("")
            raise ApiError(code, "injected failure of a scale request")

    def _check_common(self, deployment: Deployment, patched: dict[str, Any], current: dict[str, Any], what: str) -> int:
        given = patched.get("metadata")
        metadata: dict[str, Any] = given if isinstance(given, dict) else {}
        if metadata.get("name", deployment.name) != deployment.name:
            raise ApiError(400, f"the name of the object ({metadata.get('name')}) does not match the name on the URL ({deployment.name})")
        asked_version = metadata.get("resourceVersion")
        if asked_version not in (None, current["metadata"]["resourceVersion"]):
            raise _conflict(deployment.name)
        spec = patched.get("spec")
        replicas = spec.get("replicas") if isinstance(spec, dict) else None
        limit = self._settings.max_replicas
        if not isinstance(replicas, int) or isinstance(replicas, bool):
            raise _invalid(what, deployment.name, "spec.replicas", f"Invalid value: {json.dumps(replicas)}: must be an integer")
        if replicas < 0:
            raise _invalid(what, deployment.name, "spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0")
        if replicas > limit:
            why = f"Invalid value: {replicas}: the local cluster allows at most {limit} replicas per function"
            raise _invalid(what, deployment.name, "spec.replicas", why)
        return replicas

    # --- deployments ---------------------------------------------------------------------

    async def _list_deployments(self, request: web.Request) -> web.StreamResponse:
        return await self._list_or_watch(request, "deployments", "DeploymentList", "apps/v1")

    async def _get_deployment(self, request: web.Request) -> web.Response:
        return web.json_response(self._deployment(request).to_json())

    async def _patch_deployment(self, request: web.Request) -> web.Response:
        deployment = self._deployment(request)
        body, content_type = await self._body(request, patch=True)
        self._check_fault()
        current = deployment.to_json()
        patched = self._apply_patch(current, body, content_type)
        replicas = self._check_common(deployment, patched, current, "Deployment.apps")
        unchanged = dict(current["spec"], replicas=None) == dict(patched.get("spec") or {}, replicas=None)
        if not unchanged:
            why = "Forbidden: the local cluster supports changing only spec.replicas"
            raise _invalid("Deployment.apps", deployment.name, "spec", why)
        metadata = patched["metadata"]
        for key in ("labels", "annotations"):
            value = metadata.get(key) or {}
            if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
                raise _invalid("Deployment.apps", deployment.name, f"metadata.{key}", "must map strings to strings")
        labels = {k: v for k, v in (metadata.get("labels") or {}).items() if k != "faas_function"}
        if labels != deployment.labels or metadata.get("annotations", {}) != deployment.annotations:
            deployment.labels, deployment.annotations = labels, dict(metadata.get("annotations") or {})
            if replicas == deployment.replicas:
                self._controller.publish(deployment)
        self._controller.scale(deployment, replicas)
        return web.json_response(deployment.to_json())

    async def _get_scale(self, request: web.Request) -> web.Response:
        return web.json_response(self._deployment(request).scale_json())

    async def _patch_scale(self, request: web.Request) -> web.Response:
        deployment = self._deployment(request)
        body, content_type = await self._body(request, patch=True)
        self._check_fault()
        current = deployment.scale_json()
        patched = self._apply_patch(current, body, content_type)
        self._controller.scale(deployment, self._check_common(deployment, patched, current, "Scale.autoscaling"))
        return web.json_response(deployment.scale_json())

    async def _put_scale(self, request: web.Request) -> web.Response:
        deployment = self._deployment(request)
        body, _ = await self._body(request, patch=False)
        self._check_fault()
        if not isinstance(body, dict):
            raise ApiError(400, "the body of a PUT to scale must be a Scale object")
        self._controller.scale(deployment, self._check_common(deployment, body, deployment.scale_json(), "Scale.autoscaling"))
        return web.json_response(deployment.scale_json())

    # --- pods and their metrics ----------------------------------------------------------

    async def _list_pods(self, request: web.Request) -> web.StreamResponse:
        return await self._list_or_watch(request, "pods", "PodList", "v1")

    async def _get_pod(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        pod = self._runner.pods.get(name)
        if pod is None or request.match_info["namespace"] != "openfaas-fn":
            raise ApiError(404, f'pods "{name}" not found', details={"name": name, "kind": "pods"})
        return web.json_response(pod.to_json())

    async def _pod_metrics(self, request: web.Request) -> web.Response:
        keep = self._filters(request)
        wanted = request.match_info.get("name")
        items = []
        for name, pod in self._runner.pods.items():
            usage = self._sampler.usage.get(name)
            if usage is None or (wanted is not None and name != wanted):
                continue
            obj = pod.to_json()
            if not keep(obj["metadata"]["namespace"], pod.labels, obj):
                continue
            items.append(pod_metrics(pod, usage))
        if wanted is not None:
            if not items:
                raise ApiError(404, f'podmetrics.metrics.k8s.io "{wanted}" not found', details={"name": wanted, "kind": "pods"})
            return web.json_response(items[0])
        return web.json_response({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": items})

