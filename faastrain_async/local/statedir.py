"""A local cluster's state directory: which cluster runs there, and which processes are its own.

- ``<state-dir>/cluster.lock`` is locked (``flock``) by the process that runs the cluster for
  as long as it runs; the kernel releases the lock when that process ends, however it ends.
  So a second cluster on the same directory is refused, and a record whose lock nobody holds
  describes a cluster that is gone.
- ``<state-dir>/cluster.json`` records that process (pid and start time), the cluster's id,
  its endpoints and its functions.
- Every process the cluster starts carries ``FAASTRAIN_LOCAL_CLUSTER=<cluster id>`` in its
  environment, which nothing else has: only processes with that mark are ever swept.

A process is signalled only once it is proven ours: the cluster process by its pid, its
recorded start time and the held lock; the others by the mark in their environment.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import IO, Any

import psutil

from faastrain_async.local.errors import LocalClusterError
from faastrain_async.outputs import write_text

#: Environment variable that marks the processes a cluster started with the cluster's id.
MARK = "FAASTRAIN_LOCAL_CLUSTER"
LOCK_FILE = "cluster.lock"
RECORD_FILE = "cluster.json"
#: Two readings of one process's start time differ by less than this (clock ticks are 10 ms).
_START_TIME_TOLERANCE = 0.05


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/faastrain/local`` (``~/.local/state/faastrain/local``)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "faastrain" / "local"


def resolve(state_dir: str | os.PathLike[str]) -> Path:
    """The absolute form of ``state_dir``: the cluster's children run from other directories."""
    return Path(state_dir).expanduser().resolve()


class StateDirLock:
    """The exclusive lock of a state directory, held while a cluster runs there."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_FILE
        self._file: IO[bytes] | None = None

    def acquire(self) -> None:
        """Take the lock; LocalClusterError naming the running cluster if another holds it."""
        if self._file is not None:
            return
        handle = self.path.open("ab")  # the file stays; unlinking a lock file invites races
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise LocalClusterError(already_running(self.path.parent)) from None
        self._file = handle

    def release(self) -> None:
        handle, self._file = self._file, None
        if handle is not None:
            handle.close()  # closing the only descriptor releases the lock


def locked(state_dir: Path) -> bool:
    """True while some process holds the lock of ``state_dir`` (a cluster runs there)."""
    path = state_dir / LOCK_FILE
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return False
    with handle:
        try:
            # A shared lock is granted unless someone holds the exclusive one; it is dropped
            # at once, and never blocks a cluster that starts meanwhile for longer than that.
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False


def read_record(state_dir: Path) -> dict[str, Any] | None:
    """The record in ``state_dir``, or None when there is none."""
    path = state_dir / RECORD_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        record = json.loads(text)
    except ValueError as e:
        raise LocalClusterError(f"{path} is not a cluster record ({e}); remove it if no cluster runs there") from None
    keys = {"pid", "pid_created", "cluster_id", "state_dir"}
    if not isinstance(record, dict) or not keys <= record.keys():
        raise LocalClusterError(f"{path} is not a cluster record (it lacks {', '.join(sorted(keys))})")
    return record


def write_record(state_dir: Path, record: dict[str, Any]) -> None:
    """Write the record whole or not at all (a reader never sees half of it)."""
    write_text(state_dir / RECORD_FILE, json.dumps(record, indent=2) + "\n")


def remove_record(state_dir: Path, cluster_id: str) -> None:
    """Remove the record if it is still the one of ``cluster_id``."""
    try:
        record = read_record(state_dir)
    except LocalClusterError:
        return
    if record is not None and record["cluster_id"] == cluster_id:
        (state_dir / RECORD_FILE).unlink(missing_ok=True)


def cluster_process(record: dict[str, Any]) -> psutil.Process | None:
    """The process that runs the recorded cluster, if it still runs; None otherwise.

    Proven by three facts: the lock of its state directory is held, a process has the
    recorded pid, and that process started when the recorded one did (not a reused pid).
    """
    if not locked(Path(record["state_dir"])):
        return None
    try:
        process = psutil.Process(record["pid"])
        if abs(process.create_time() - record["pid_created"]) > _START_TIME_TOLERANCE:
            return None
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
    except psutil.NoSuchProcess:
        return None
    return process


def running(state_dir: Path) -> dict[str, Any] | None:
    """The record of the cluster that runs in ``state_dir``, or None when none runs."""
    record = read_record(state_dir)
    if record is None or cluster_process(record) is None:
        return None
    return record


def owned_processes(cluster_id: str, started_after: float = 0.0) -> list[psutil.Process]:
    """Live processes carrying ``cluster_id``'s mark (those the cluster started, and theirs)."""
    found = []
    for process in psutil.process_iter(["create_time", "status"]):
        if process.info["status"] == psutil.STATUS_ZOMBIE or process.info["create_time"] < started_after - _START_TIME_TOLERANCE:
            continue
        try:
            marked = process.environ().get(MARK) == cluster_id
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue  # another user's process is not ours; a finished one needs nothing
        if marked:
            found.append(process)
    return found


def already_running(state_dir: Path) -> str:
    """Why a second cluster may not start in ``state_dir``, naming the one that runs."""
    try:
        record = read_record(state_dir)
    except LocalClusterError:
        record = None
    who = "" if record is None else f" (pid {record['pid']}, API server {record.get('api_url')})"
    return f"a local cluster already runs in {state_dir}{who}; stop it first: faastrain local down --state-dir {state_dir}"
