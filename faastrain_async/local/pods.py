"""The pod runner: each pod is a real replica process, supervised like a kubelet would.

Life cycle of a pod: Pending (ADDED) → Running, not ready (the process started) → Ready
once its readiness probe passes (the replica itself answers 503 during its cold start) →
on deletion: deletionTimestamp set and not ready, the gateway drains its in-flight calls
within the grace period, SIGTERM, SIGKILL if still alive when the grace period ends →
DELETED. A replica that exits on its own is restarted after ``restart_delay`` with its
restartCount increased, not ready meanwhile. Replicas get PR_SET_PDEATHSIG, so they die
with the cluster process however it ends, and carry the cluster's mark in their environment
(see :mod:`faastrain_async.local.statedir`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from faastrain_async.local.errors import LocalClusterError
from faastrain_async.local.objects import HEALTH_PATH, Pod, timestamp
from faastrain_async.local.settings import ClusterSettings, FunctionSpec
from faastrain_async.local.statedir import MARK
from faastrain_async.local.store import Store
from loadgen.lifeline import die_with_parent
from faastrain_async.logger import get_logger

log = get_logger(__name__)

#: Seconds to wait for a process to exit after SIGKILL before reporting it stuck.
KILL_WAIT = 5.0
#: Longest wait before restarting a replica that keeps crashing (seconds).
MAX_RESTART_DELAY = 10.0

PodListener = Callable[[Pod], None]
Drainer = Callable[[str, float], Awaitable[None]]


def child_environment(cluster_id: str) -> dict[str, str]:
    """The environment of a process the cluster starts: ours, with this package importable
    and the cluster's mark."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env[MARK] = cluster_id
    return env


def replica_environment(cluster_id: str) -> dict[str, str]:
    """A replica's environment: a child's, with one BLAS thread (unless set otherwise), as
    deploy/functions sets for the real functions."""
    env = child_environment(cluster_id)
    # numpy's BLAS threads otherwise spin after each product: a 2 ms multiplication then
    # costs about 100 ms of CPU, and a request is no longer one core's worth of work.
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, "1")
    return env


async def terminate(process: asyncio.subprocess.Process, grace: float, what: str) -> None:
    """SIGTERM ``process``, and SIGKILL it if it has not exited after ``grace`` seconds."""
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), grace)
    except TimeoutError:
        log.warning("ignored SIGTERM; killing it", process=what, pid=process.pid, grace=grace)
        process.kill()
        try:
            await asyncio.wait_for(process.wait(), KILL_WAIT)
        except TimeoutError as exc:
            raise LocalClusterError(f"{what} (pid {process.pid}) survived SIGKILL for {KILL_WAIT}s") from exc

class PodRunner:
    """Creates, supervises and deletes the replica processes of every function."""

    def __init__(
        self,
        *,
        store: Store,
        settings: ClusterSettings,
        log_dir: Path,
        cluster_id: str,
        on_change: PodListener,
        drain: Drainer,
    ) -> None:
        self.pods: dict[str, Pod] = {}
        self._store = store
        self._settings = settings
        self._log_dir = log_dir
        self._cluster_id = cluster_id
        self._on_change = on_change
        self._drain = drain
        self._tasks: dict[str, asyncio.Task[None]] = {}
        #: The running replica process of each pod: signals go through it, so never to a
        #: pid that has been reaped and perhaps reused.
        self._processes: dict[str, asyncio.subprocess.Process] = {}
        self._stops: dict[str, asyncio.Event] = {}
        self._http: aiohttp.ClientSession | None = None
        #: Errors of pod tasks that ended by failing (the cluster re-raises them on stop).
        self.failures: list[BaseException] = []

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=max(self._settings.probe_period, 1.0)))

    async def stop(self) -> None:
        """Kill every replica at once (no grace: the cluster is going away)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=KILL_WAIT + 5)
            if pending:
                raise LocalClusterError(f"{len(pending)} pod runner(s) did not stop within {KILL_WAIT + 5}s")
        if self._http is not None:
            await self._http.close()

    # --- pods ----------------------------------------------------------------------------

    def create(self, spec: FunctionSpec, owner_uid: str, template_hash: str) -> Pod:
        """Create a pod of ``spec`` (published as ADDED, Pending) and start its process."""
        name = f"{spec.name}-{template_hash}-{secrets.token_hex(3)[:5]}"
        pod = Pod(name=name, spec=spec, owner_uid=owner_uid, grace_period=int(round(self._settings.termination_grace)))
        self.pods[name] = pod
        self._publish(pod, "ADDED")
        stop = asyncio.Event()
        self._stops[name] = stop
        task = asyncio.create_task(self._run(pod, stop), name=f"pod-{name}")
        task.add_done_callback(self._task_done)
        self._tasks[name] = task
        return pod

    def delete(self, pod: Pod) -> None:
        """Start the graceful termination of ``pod``."""
        if pod.terminating:
            return
        pod.deletion_timestamp = timestamp()
        pod.deletion_grace = int(round(self._settings.termination_grace))
        pod.set_ready(False)
        self._publish(pod, "MODIFIED")
        self._stops[pod.name].set()

    def kill(self, name: str) -> int:
        """SIGKILL the process of pod ``name`` (it will be restarted); returns its pid."""
        pod = self._get(name)
        process = self._processes.get(name)
        if process is None or process.returncode is not None:
            raise LocalClusterError(f"pod {name!r} has no running process to kill (phase {pod.phase})")
        process.kill()
        return process.pid

    async def set_readiness_failing(self, name: str, failing: bool) -> None:
        """Make the replica of pod ``name`` fail (or pass again) its readiness probe."""
        pod = self._get(name)
        assert self._http is not None
        url = f"http://127.0.0.1:{pod.port}/_/readiness"
        async with self._http.post(url, json={"failing": failing}) as response:
            if response.status != 200:
                raise LocalClusterError(f"replica {name!r} refused the readiness fault: {response.status} {await response.text()}")

    def _get(self, name: str) -> Pod:
        pod = self.pods.get(name)
        if pod is None:
            raise LocalClusterError(f"no pod named {name!r}; pods: {', '.join(sorted(self.pods)) or 'none'}")
        return pod

    def _publish(self, pod: Pod, type_: str) -> None:
        pod.resource_version = self._store.next_version()
        self._store.record("pods", type_, pod.to_json())
        self._on_change(pod)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        name = task.get_name().removeprefix("pod-")
        self._tasks.pop(name, None)
        self._stops.pop(name, None)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("pod runner failed", pod=name, error=repr(exc))
            self.failures.append(exc)  # type: ignore[arg-type]

    # --- one pod's life ------------------------------------------------------------------

    async def _run(self, pod: Pod, stop: asyncio.Event) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        process: asyncio.subprocess.Process | None = None
        try:
            # The pod keeps one listening socket for its whole life (its "pod IP"), handed
            # to each replica process it starts: no port races, same port after a restart.
            sock.bind(("127.0.0.1", 0))
            sock.listen(128)
            pod.port = sock.getsockname()[1]
            crashes_in_a_row = 0
            while not stop.is_set():
                process = await self._spawn(pod, sock)
                self._processes[pod.name] = process
                exit_code = await self._supervise(pod, process, stop)
                if exit_code is None:
                    break
                process = None
                crashes_in_a_row = 1 if pod.ready else crashes_in_a_row + 1
                log.warning("replica exited; restarting", pod=pod.name, exit_code=exit_code, restarts=pod.restart_count + 1)
                pod.restart_count += 1
                pod.last_exit_code = exit_code
                pod.last_finished = timestamp()
                pod.container_state = "waiting"
                pod.waiting_reason = "CrashLoopBackOff"
                pod.pid = None
                pod.set_ready(False)
                self._publish(pod, "MODIFIED")
                # Back off like CrashLoopBackOff: doubling while it never becomes ready.
                delay = min(self._settings.restart_delay * 2 ** (crashes_in_a_row - 1), MAX_RESTART_DELAY)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
            if process is not None:
                await self._terminate(pod, process)
                process = None
        finally:
            if process is not None and process.returncode is None:
                process.kill()
                with contextlib.suppress(TimeoutError):
                    await asyncio.shield(asyncio.wait_for(process.wait(), KILL_WAIT))
            sock.close()
            self._processes.pop(pod.name, None)
            pod.pid = None
            pod.set_ready(False)
            pod.container_state = "terminated"
            pod.last_finished = pod.last_finished or timestamp()
            self.pods.pop(pod.name, None)
            self._publish(pod, "DELETED")

    async def _spawn(self, pod: Pod, sock: socket.socket) -> asyncio.subprocess.Process:
        spec = pod.spec
        settings = {
            "kind": spec.kind,
            "matmul_size": spec.matmul_size,
            "sleep_seconds": spec.sleep_seconds,
            "cold_start": spec.cold_start,
            "max_inflight": spec.max_inflight,
            "timeout": spec.timeout,
            "grace": self._settings.termination_grace,
        }
        self._log_dir.mkdir(parents=True, exist_ok=True)
        with open(self._log_dir / f"{pod.name}.log", "ab") as output:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "faastrain_async.local.replica",
                "--fd", str(sock.fileno()),
                "--spec", json.dumps(settings),
                "--parent", str(os.getpid()),
                pass_fds=(sock.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
                preexec_fn=die_with_parent,
                env=replica_environment(self._cluster_id),
            )  # fmt: skip
        pod.pid = process.pid
        pod.phase = "Running"
        pod.container_state = "running"
        pod.started_at = timestamp()
        self._publish(pod, "MODIFIED")
        log.debug("replica started", pod=pod.name, pid=process.pid, port=pod.port)
        return process

    async def _supervise(self, pod: Pod, process: asyncio.subprocess.Process, stop: asyncio.Event) -> int | None:
        """Probe the replica until it exits (its exit code) or the pod is deleted (None)."""
        exited = asyncio.create_task(process.wait(), name=f"wait-{pod.name}")
        stopping = asyncio.create_task(stop.wait(), name=f"stop-{pod.name}")
        try:
            while True:
                await asyncio.wait({exited, stopping}, timeout=self._settings.probe_period, return_when=asyncio.FIRST_COMPLETED)
                if stopping.done():
                    return None
                if exited.done():
                    return exited.result()
                healthy = await self._probe(pod)
                if stop.is_set() or exited.done():
                    continue
                if pod.set_ready(healthy):
                    self._publish(pod, "MODIFIED")
        finally:
            for task in (exited, stopping):
                task.cancel()

    async def _probe(self, pod: Pod) -> bool:
        assert self._http is not None
        try:
            async with self._http.get(f"http://127.0.0.1:{pod.port}{HEALTH_PATH}") as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            # A probe that cannot connect or times out is a failed probe, as in Kubernetes.
            return False

    async def _terminate(self, pod: Pod, process: asyncio.subprocess.Process) -> None:
        grace = self._settings.termination_grace
        deadline = time.monotonic() + grace
        await self._drain(pod.name, grace)
        await terminate(process, max(deadline - time.monotonic(), 0.0), f"replica {pod.name}")
        pod.last_exit_code = process.returncode
