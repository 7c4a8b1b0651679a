"""A Ray node on this machine that goes away with its owner, and only it.

:class:`RayNode` runs ``ray start --block`` (a head, or a node joining a head) in a session
of its own, so the node's processes (GCS, raylet, agents, workers) are the members of one
process group, under a small supervisor process (in another session) that waits on a pipe
from the owner. When the owner stops the node, or dies (even by SIGKILL: the kernel closes
the pipe), the supervisor sends SIGTERM to the group's processes and their descendants (Ray's
workers lead groups of their own), SIGKILL to what is left after ``grace`` seconds, and
removes the node's temp dir. ``ray stop`` is never used: it would stop
every Ray node on the machine.

Each node keeps its files in a temp dir of its own and takes free ports, so several nodes
(and other Ray users) share a machine. Ray 2.60 replaces a loopback node address by the
machine's (a cluster of several nodes needs one all of them reach) and listens on every
interface; nodes therefore authenticate with a token by default.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from faastrain_async.errors import FaaSTrainError
from faastrain_async.local.cluster import free_port

#: The file ``ray start`` writes its cluster's address to, in the node's temp dir.
ADDRESS_FILE = "ray_current_cluster"


def ensure_token() -> None:
    """Make sure a Ray token is at hand where Ray looks (``RAY_AUTH_TOKEN``, the file at
    ``RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``): when there is none, a new one goes into
    this process's environment, which the nodes started from here and this process's Ray
    driver read. (``ray start --head`` refuses token authentication without a token.)"""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if (Path(path) if path else Path.home() / ".ray" / "auth_token").is_file():
        return
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)  # 256 bits, as Ray's own tokens


def _process_table() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, process group, start time) of every live process (from /proc)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The fields after the command (which may hold spaces): state ppid pgrp ... starttime (the 20th).
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if fields[0] != "Z":
            table[int(entry.name)] = (int(fields[1]), int(fields[2]), fields[19])
    return table


def node_processes(pgid: int) -> dict[int, str]:
    """The live processes of the node whose process group is ``pgid``: the group's members and
    their descendants (Ray's workers lead process groups of their own), as pid -> start time."""
    table = _process_table()
    found = {pid for pid, (_, group, _) in table.items() if group == pgid}
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return {pid: table[pid][2] for pid in found}


def alive(processes: dict[int, str]) -> dict[int, str]:
    """Those of ``processes`` that still run (the same pid with the same start time)."""
    table = _process_table()
    return {pid: start for pid, start in processes.items() if pid in table and table[pid][2] == start}


def stop_processes(processes: dict[int, str], grace: float) -> dict[int, str]:
    """SIGTERM to ``processes``, SIGKILL to those left after ``grace`` seconds; those still left."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        for pid in alive(processes):  # checked just now: a pid reused since is not signalled
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while alive(processes) and time.monotonic() < deadline:
            time.sleep(0.2)
    return alive(processes)


class RayNode:
    """``ray start --block`` on this machine, stopped with :meth:`stop` or with its owner.

    A head when ``head_address`` is None, else a node joining that head; ``num_cpus`` is
    what the node offers the cluster. ``auth_mode`` must be the driver's (see the module docstring).
    """

    def __init__(
        self,
        *,
        head_address: str | None = None,
        num_cpus: int = 1,
        auth_mode: str = "token",
        start_timeout: float = 120.0,
        grace: float = 5.0,
    ) -> None:
        if auth_mode not in ("token", "disabled"):
            raise FaaSTrainError(f"auth_mode={auth_mode!r} is not valid; allowed: token, disabled")
        self.auth_mode = auth_mode
        self.head_address = head_address
        self.num_cpus = num_cpus
        self.start_timeout = start_timeout
        self.grace = grace
        self.temp_dir: Path | None = None
        self.address: str | None = None
        self._supervisor: subprocess.Popen[bytes] | None = None
        self._pgid = 0

    @property
    def pgid(self) -> int:
        """The process group of the node's processes (0 before it starts)."""
        return self._pgid

    def command(self) -> list[str]:
        """The ``ray start`` command line of this node."""
        assert self.temp_dir is not None
        # The loopback address is asked for; Ray 2.60 puts the machine's in its place.
        ray = [sys.executable, "-m", "ray.scripts.scripts", "start", "--block", "--node-ip-address=127.0.0.1",
               f"--temp-dir={self.temp_dir}", f"--num-cpus={self.num_cpus}", "--disable-usage-stats",
               f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
               f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}"]  # fmt: skip
        if self.head_address is None:
            return ray + ["--head", "--port=0", "--include-dashboard=false"]
        return ray + [f"--address={self.head_address}"]

    def start(self) -> str:
        """Start the node; the address of its cluster's head (``HOST:PORT``)."""
        # Short: Ray puts unix sockets under it, whose paths may not exceed about 100 bytes.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="ray-"))
        argv = [sys.executable, "-m", "faastrain_async.training.ray_node", str(self.grace), str(self.temp_dir), *self.command()]
        # One authentication mode on every node (by default Ray enables tokens on a head only
        # when a token file exists). With tokens the head makes one if there is none, and the
        # other nodes read it; so must the driver, which needs RAY_AUTH_MODE=token too.
        if self.auth_mode == "token" and self.head_address is None:
            ensure_token()
        env = {**os.environ, "RAY_AUTH_MODE": self.auth_mode}
        self._supervisor = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        try:
            self._pgid = int(self._read_line(deadline))
            address_file = self.temp_dir / ADDRESS_FILE
            while not address_file.is_file() or not address_file.read_text().strip():
                if self._supervisor.poll() is not None or time.monotonic() > deadline:
                    raise FaaSTrainError(f"the Ray node did not start within {self.start_timeout:g}s; its output ends:\n{self._log_tail()}")
                time.sleep(0.2)
        except BaseException:
            self.stop()
            raise
        self.address = address_file.read_text().strip()
        return self.address

    def _read_line(self, deadline: float) -> str:
        """The supervisor's one line: the node's process group."""
        assert self._supervisor is not None and self._supervisor.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._supervisor.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=max(deadline - time.monotonic(), 0.0)):
                raise FaaSTrainError(f"the Ray node's supervisor did not start within {self.start_timeout:g}s")
        line = self._supervisor.stdout.readline().decode().strip()
        if not line.isdigit():
            raise FaaSTrainError(f"the Ray node's supervisor failed (exit status {self._supervisor.wait(30.0)})")
        return line

    def _log_tail(self) -> str:
        assert self.temp_dir is not None
        log = self.temp_dir / "node.log"
        return log.read_text(errors="replace")[-2000:] if log.is_file() else "(no output)"

    def stop(self) -> None:
        """Stop the node's processes (all of them) and remove its temp dir."""
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            assert supervisor.stdin is not None and supervisor.stdout is not None
            supervisor.stdin.close()  # the supervisor's signal to stop the node
            supervisor.stdout.close()
            try:
                supervisor.wait(self.grace + 30.0)
            except subprocess.TimeoutExpired:
                supervisor.kill()
                supervisor.wait(30.0)
            left = node_processes(self._pgid) if self._pgid else {}
            if left and stop_processes(left, 0.0):
                raise FaaSTrainError(f"processes {sorted(left)} of the Ray node survived its supervisor and SIGKILL")
            if left:
                raise FaaSTrainError(f"processes {sorted(left)} of the Ray node outlived its supervisor; they were killed")
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)  # the supervisor's job, unless it failed early
            self.temp_dir = None

    def __enter__(self) -> RayNode:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def supervise(grace: float, temp_dir: Path, command: list[str]) -> int:
    """Run ``command`` in a session of its own until standard input closes (or it exits, or
    this process gets SIGTERM); then stop its process group and remove ``temp_dir``."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with (temp_dir / "node.log").open("ab") as log:
        node = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        print(node.pid, flush=True)  # its process group
        owner = sys.stdin.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(owner, selectors.EVENT_READ)
            # Until the owner's end of the pipe closes (end of file), or the node exits by itself.
            while node.poll() is None:
                if selector.select(timeout=0.5) and not os.read(owner, 4096):
                    break
    finally:
        for _ in range(3):  # again, for processes started while the first ones stopped
            processes = node_processes(node.pid)
            if not processes:
                break
            stop_processes(processes, grace)
        node.wait(10.0)
        shutil.rmtree(temp_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(supervise(float(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]))
