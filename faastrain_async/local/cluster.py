"""``LocalCluster``: the API server, replicas, gateway and Prometheus, started and stopped
together, with the fault injections tests of the environment's resilience need.

    async with LocalCluster([FunctionSpec("matmul", kind="matmul", replicas=2)]) as cluster:
        cluster.kubeconfig_path, cluster.api_url, cluster.gateway_url, cluster.prometheus_url
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil
import yaml
from aiohttp import web

from faastrain_async.errors import ConfigError
from faastrain_async.local.apiserver import ApiServer
from faastrain_async.local.controller import Controller
from faastrain_async.local.errors import LocalClusterError
from faastrain_async.local.functions import load_handler
from faastrain_async.local.gateway import Gateway
from faastrain_async.local.objects import Pod
from faastrain_async.local.pods import PodRunner, child_environment
from faastrain_async.local.prometheus import PrometheusServer, find_prometheus
from faastrain_async.local.settings import BUILTIN_KINDS, NAMESPACE, ClusterSettings, FunctionSpec
from faastrain_async.local.statedir import StateDirLock, remove_record, resolve, write_record
from faastrain_async.local.store import Store
from faastrain_async.local.usage import UsageSampler
from faastrain_async.logger import get_logger

log = get_logger(__name__)

#: Seconds the API server gives open requests (watches) to end when it stops.
SERVER_SHUTDOWN = 2.0
CONTEXT = "faastrain-local"


def _listening_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise LocalClusterError(f"cannot listen on 127.0.0.1:{port}: {exc}") from exc
    sock.listen(256)
    return sock


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_kubeconfig(path: Path, server: str, token: str) -> None:
    """A kubeconfig for ``server`` (plain http) with a bearer token, namespace openfaas-fn."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": server}}],
        "users": [{"name": CONTEXT, "user": {"token": token}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": NAMESPACE}}],
        "current-context": CONTEXT,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)


class LocalCluster:
    """A single-machine stand-in for Kubernetes + OpenFaaS + Prometheus.

    Args:
        functions: the functions to serve, each its own Deployment (default: one api).
        settings: how the cluster runs (ports, scrape interval, grace periods, ...).

    After ``start()`` (or entering ``async with``): ``kubeconfig_path``, ``api_url``,
    ``gateway_url``, ``prometheus_url`` (None with ``settings.prometheus=False``),
    ``state_dir``, ``namespace``, and ``record`` (also in ``<state_dir>/cluster.json``).
    Start returns once every function has its initial replicas ready and Prometheus has
    scraped the gateway. One cluster runs per state directory: a second one there raises
    LocalClusterError (see :mod:`faastrain_async.local.statedir`).
    """

    namespace = NAMESPACE

    def __init__(self, functions: Sequence[FunctionSpec] | None = None, settings: ClusterSettings | None = None) -> None:
        self.functions: tuple[FunctionSpec, ...] = tuple(functions) if functions is not None else (FunctionSpec(),)
        self.settings = settings if settings is not None else ClusterSettings()
        names = [f.name for f in self.functions]
        if not names:
            raise ConfigError("functions=[] is not valid: give at least one function")
        if len(set(names)) != len(names):
            raise ConfigError(f"functions={names!r} is not valid: names must be unique")
        for spec in self.functions:
            if spec.replicas > self.settings.max_replicas:
                raise ConfigError(f"{spec.name}: replicas={spec.replicas} is not valid: must be <= max_replicas={self.settings.max_replicas}")
            if spec.kind not in BUILTIN_KINDS:
                load_handler(spec.kind)  # fail here, clearly, rather than in a crash-looping replica
        self._prometheus_binary = find_prometheus(self.settings.prometheus_binary) if self.settings.prometheus else None
        self.cluster_id = secrets.token_hex(6)
        self.token = self.settings.token or secrets.token_urlsafe(24)
        self.state_dir: Path | None = None
        self.kubeconfig_path: Path | None = None
        self.api_url: str | None = None
        self.gateway_url: str | None = None
        self.prometheus_url: str | None = None
        self.record: dict[str, Any] | None = None
        self._owns_state_dir = False
        self._lock: StateDirLock | None = None
        self._store = Store(self.settings.watch_history)
        self._controller = Controller(self._store)
        self._changed = asyncio.Event()
        self._runner: PodRunner | None = None
        self._gateway: Gateway | None = None
        self._api: ApiServer | None = None
        self._prometheus: PrometheusServer | None = None
        self._web: list[web.AppRunner] = []
        self._sampler_task: asyncio.Task[None] | None = None
        self._started = False

    # --- life cycle ----------------------------------------------------------------------

    async def __aenter__(self) -> LocalCluster:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop(raise_failures=exc is None)

    async def start(self) -> None:
        """Start everything; on failure, stop what was started and re-raise."""
        if self._started:
            raise LocalClusterError("this LocalCluster was already started")
        self._started = True
        try:
            await self._start()
        except BaseException:
            await self.stop(raise_failures=False)
            raise

    async def _start(self) -> None:
        settings = self.settings
        if settings.state_dir is None:
            self.state_dir = Path(tempfile.mkdtemp(prefix="faastrain-local-"))
            self._owns_state_dir = True
        else:
            self.state_dir = resolve(settings.state_dir)
            self.state_dir.mkdir(parents=True, exist_ok=True)
        self._lock = StateDirLock(self.state_dir)
        self._lock.acquire()
        self._runner = PodRunner(
            store=self._store,
            settings=settings,
            log_dir=self.state_dir / "pods",
            cluster_id=self.cluster_id,
            on_change=self._pod_changed,
            drain=self._drain,
        )
        self._sampler = UsageSampler(self._runner.pods, settings.metrics_resolution)
        self._controller.attach(self._runner)
        self._gateway = Gateway(controller=self._controller, runner=self._runner, sampler=self._sampler, settings=settings)
        self._api = ApiServer(
            store=self._store, controller=self._controller, runner=self._runner, sampler=self._sampler, settings=settings, token=self.token
        )
        await self._runner.start()
        await self._gateway.start()
        api_port = await self._serve(self._api.app, settings.api_port)
        gateway_port = await self._serve(self._gateway.app, settings.gateway_port)
        self.api_url = f"http://127.0.0.1:{api_port}"
        self.gateway_url = f"http://127.0.0.1:{gateway_port}"
        self.kubeconfig_path = self.state_dir / "kubeconfig.yaml"
        write_kubeconfig(self.kubeconfig_path, self.api_url, self.token)
        self._sampler_task = asyncio.create_task(self._sampler.run(), name="usage-sampler")
        for spec in self.functions:
            deployment = self._controller.add(spec, grace_period=int(round(settings.termination_grace)))
            self._gateway.register(deployment)
        if self._prometheus_binary is not None:
            # A fresh data directory: no series of an earlier run on the same state dir.
            shutil.rmtree(self.state_dir / "prometheus" / "data", ignore_errors=True)
            self._prometheus = PrometheusServer(
                binary=self._prometheus_binary,
                port=settings.prometheus_port or free_port(),
                state_dir=self.state_dir / "prometheus",
                gateway=f"127.0.0.1:{gateway_port}",
                scrape_interval=settings.scrape_interval,
                timeout=settings.start_timeout,
                env=child_environment(self.cluster_id),
            )
            await self._prometheus.start()
            self.prometheus_url = self._prometheus.url
        for spec in self.functions:
            await self.wait_ready(spec.name, spec.replicas, timeout=settings.start_timeout)
        self.record = {
            "pid": os.getpid(),
            "pid_created": psutil.Process().create_time(),
            "cluster_id": self.cluster_id,
            "state_dir": str(self.state_dir),
            "kubeconfig": str(self.kubeconfig_path),
            "api_url": self.api_url,
            "gateway_url": self.gateway_url,
            "prometheus_url": self.prometheus_url,
            "functions": [f.name for f in self.functions],
        }
        write_record(self.state_dir, self.record)
        log.info("local cluster up", api=self.api_url, gateway=self.gateway_url, prometheus=self.prometheus_url)

    async def _serve(self, app: web.Application, port: int) -> int:
        sock = _listening_socket(port)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=SERVER_SHUTDOWN)
        await runner.setup()
        self._web.append(runner)
        await web.SockSite(runner, sock).start()
        return int(sock.getsockname()[1])

    async def stop(self, *, raise_failures: bool = True) -> None:
        """Stop everything; no replica or Prometheus process is left. Safe to call twice."""
        self._controller.stopping = True
        self._store.drop_watches()
        errors: list[BaseException] = []
        if self._sampler_task is not None:
            self._sampler_task.cancel()
            done = await asyncio.gather(self._sampler_task, return_exceptions=True)
            errors.extend(e for e in done if isinstance(e, Exception))
            self._sampler_task = None
        steps: list[tuple[str, Callable[[], Any]]] = []
        if self._prometheus is not None:
            steps.append(("prometheus", self._prometheus.stop))
        if self._runner is not None:
            steps.append(("replicas", self._runner.stop))
        for runner in self._web:
            steps.append(("http server", runner.cleanup))
        if self._gateway is not None:
            steps.append(("gateway client", self._gateway.stop))
        for what, step in steps:
            try:
                await step()
            except Exception as exc:  # keep stopping the rest; reported below
                log.error("failed to stop part of the local cluster", part=what, error=repr(exc))
                errors.append(exc)
        self._web.clear()
        if self._lock is not None and self.state_dir is not None:
            remove_record(self.state_dir, self.cluster_id)
            self.record = None
            # Released last: another cluster may use the directory once nothing of ours runs.
            self._lock.release()
        if self._owns_state_dir and self.state_dir is not None:
            shutil.rmtree(self.state_dir, ignore_errors=True)
            self._owns_state_dir = False
        if self._runner is not None:
            errors.extend(self._runner.failures)
            self._runner.failures.clear()
        if errors and raise_failures:
            raise LocalClusterError(f"the local cluster failed: {'; '.join(map(repr, errors))}") from errors[0]

    # --- state ---------------------------------------------------------------------------

    def _pod_changed(self, pod: Pod) -> None:
        self._controller.pod_changed(pod)
        # Wake every waiter, then give later waiters a fresh event.
        self._changed.set()
        self._changed = asyncio.Event()

    async def _drain(self, pod: str, timeout: float) -> None:
        assert self._gateway is not None
        await self._gateway.wait_drained(pod, timeout)

    def pods(self, function: str | None = None) -> list[Pod]:
        """The pods (of ``function``, or all), in creation order."""
        assert self._runner is not None, "start the cluster first"
        pods = [p for p in self._runner.pods.values() if function is None or p.spec.name == function]
        return sorted(pods, key=lambda p: p.born)

    def ready_pods(self, function: str) -> list[Pod]:
        return [p for p in self.pods(function) if p.ready and not p.terminating]

    async def wait_ready(self, function: str, replicas: int, *, timeout: float) -> None:
        """Wait until ``function`` has exactly ``replicas`` ready pods and none other."""
        deployment = self._controller.get(function)
        if deployment is None:
            raise ConfigError(f"function={function!r} is not served; served: {', '.join(f.name for f in self.functions)}")
        deadline = time.monotonic() + timeout
        while True:
            pods = self.pods(function)
            if len(pods) == replicas and all(p.ready and not p.terminating for p in pods):
                return
            left = deadline - time.monotonic()
            if left <= 0:
                states = [(p.name, p.phase, p.ready, p.terminating) for p in pods]
                raise LocalClusterError(f"{function}: {replicas} ready replicas not reached within {timeout}s; pods: {states}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def scale(self, function: str, replicas: int) -> None:
        """Set a function's replicas directly (what a scale patch does)."""
        deployment = self._controller.get(function)
        if deployment is None:
            raise ConfigError(f"function={function!r} is not served")
        if not 0 <= replicas <= self.settings.max_replicas:
            raise ConfigError(f"replicas={replicas} is not valid: must be in 0..{self.settings.max_replicas}")
        self._controller.scale(deployment, replicas)

    # --- fault injection -----------------------------------------------------------------

    def drop_watches(self) -> int:
        """Cut every open watch connection abruptly; returns how many were open."""
        return self._store.drop_watches()

    def fail_next_scale_requests(self, count: int, status: int = 409) -> None:
        """Answer the next ``count`` scale requests (PATCH/PUT of a Deployment or its scale
        subresource) with ``status`` (409 Conflict, 422 Invalid or 500 InternalError) without
        applying them."""
        if not isinstance(count, int) or count < 1:
            raise ConfigError(f"count={count!r} is not valid: must be an integer >= 1")
        if status not in (409, 422, 500):
            raise ConfigError(f"status={status!r} is not valid: must be 409, 422 or 500")
        assert self._api is not None, "start the cluster first"
        self._api.scale_faults.extend([status] * count)

    def kill_replica(self, pod: str) -> int:
        """SIGKILL the process of ``pod``; it is restarted (restartCount + 1). Returns its pid."""
        assert self._runner is not None, "start the cluster first"
        return self._runner.kill(pod)

    async def fail_readiness(self, pod: str, failing: bool = True) -> None:
        """Make ``pod``'s replica fail its readiness probe (``failing=False`` heals it)."""
        assert self._runner is not None, "start the cluster first"
        await self._runner.set_readiness_failing(pod, failing)

    def compact_history(self) -> None:
        """Forget the watch history, as an etcd compaction does: a watch from any earlier
        resourceVersion now gets 410 Gone."""
        self._store.compact()

    async def stop_prometheus(self) -> None:
        """Stop the Prometheus server (its data is kept)."""
        if self._prometheus is None:
            raise LocalClusterError("this cluster runs no Prometheus (settings.prometheus=False)")
        await self._prometheus.stop()

    async def start_prometheus(self) -> None:
        """Start Prometheus again on the same address and data; returns once it scrapes."""
        if self._prometheus is None:
            raise LocalClusterError("this cluster runs no Prometheus (settings.prometheus=False)")
        await self._prometheus.start()

    @property
    def prometheus_pid(self) -> int | None:
        return self._prometheus.pid if self._prometheus is not None else None
