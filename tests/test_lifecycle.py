"""Processes we own, with real processes and real signals: only ours are ever signalled, one
cluster per state directory, nothing outlives its owner, and `run --local-cluster` uses the
running local cluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import structlog

from faastrain_async.cli.main import main
from faastrain_async.local import ClusterSettings, LocalCluster, LocalClusterError
from faastrain_async.local.statedir import locked, owned_processes, read_record

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
FAST_UP = ["--scrape-interval", "0.5", "--grace", "2", "--function", "nap=sleep"]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()  # main() points structlog at this test's captured stderr


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_gone(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """The processes still alive after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in processes) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [p for p in processes if alive(p)]


def decoy(*words: str) -> subprocess.Popen[bytes]:
    """An unrelated process whose command line mentions ``words``."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", *words])


def child_env(tmp_path: Path) -> dict[str, str]:
    # No running cluster in the default state dir, and temporary dirs inside the test's.
    return {**os.environ, "XDG_STATE_HOME": str(tmp_path / "xdg"), "TMPDIR": str(tmp_path)}


def test_down_signals_only_what_is_proven_the_clusters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["local", "up", "--state-dir", "state", "--detach", *FAST_UP]) == 0  # relative
    record = read_record(tmp_path / "state")
    assert record is not None and record["state_dir"] == str(tmp_path / "state")
    # Command lines that the old sweep took for the cluster's: Prometheus, the relative data
    # dir, even the cluster's id.
    decoys = [decoy("prometheus", "state/prometheus"), decoy("prometheus"), decoy("--cluster-id", record["cluster_id"])]
    try:
        assert main(["local", "status", "--state-dir", "state"]) == 0
        prometheus = record["prometheus_url"]
        assert prometheus and "prometheus:  http://127.0.0.1:" in capsys.readouterr().out  # it started
        children = owned_processes(record["cluster_id"])
        assert len(children) == 2  # one replica, Prometheus
        assert main(["local", "down", "--state-dir", "state"]) == 0
        assert wait_gone(children, 10) == []
        assert all(d.poll() is None for d in decoys)
        # A record naming an unrelated live process (its pid, its start time): the lock is
        # free, so that process is not the cluster, and is left alone.
        target = psutil.Process(decoys[0].pid)
        fake = {**record, "pid": target.pid, "pid_created": target.create_time()}
        (tmp_path / "state" / "cluster.json").write_text(json.dumps(fake))
        assert main(["local", "down", "--state-dir", "state"]) == 0
        assert "is not running" in capsys.readouterr().out
        assert all(d.poll() is None for d in decoys)
    finally:
        for d in decoys:
            d.kill()
            d.wait()


def test_one_cluster_per_state_dir_and_the_lock_dies_with_its_owner(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    up = ["local", "up", "--state-dir", str(state), "--detach", "--no-prometheus", *FAST_UP]
    try:
        assert main(up) == 0
        first = read_record(state)
        assert first is not None
        capsys.readouterr()
        assert main(up) == 2
        err = capsys.readouterr().err
        assert err == (f"faastrain: error: a local cluster already runs in {state} (pid {first['pid']}, API server "
                       f"{first['api_url']}); stop it first: faastrain local down --state-dir {state}\n")  # fmt: skip
        with pytest.raises(LocalClusterError, match="already runs"):
            import asyncio

            asyncio.run(LocalCluster(settings=ClusterSettings(state_dir=state, prometheus=False)).start())
        assert read_record(state) == first  # the refused ones touched nothing
        # SIGKILL the cluster: the kernel releases its lock, its replicas die with it.
        children = owned_processes(first["cluster_id"])
        os.kill(first["pid"], signal.SIGKILL)
        assert wait_gone([psutil.Process(first["pid"]), *children], 10) == []
        deadline = time.monotonic() + 10  # released as the kernel tears the process down
        while locked(state):
            assert time.monotonic() < deadline, "the lock outlived its owner"
            time.sleep(0.05)
        assert main(up) == 0
        second = read_record(state)
        assert second is not None and second["pid"] != first["pid"]
    finally:
        assert main(["local", "down", "--state-dir", str(state)]) == 0


OWNER = """
import sys, time
from faastrain_async import FaaSEnv
env = FaaSEnv("kubernetes", local_cluster=True, interval=1.0, profile="constant:rate=5",
              kubernetes={"local_function_kind": "sleep", "local_scrape_interval": 0.5, "load_workers": 1})
env.reset(seed=0)
env.step(6)
print("READY", flush=True)
time.sleep(300)
"""


def test_killing_the_owner_of_an_env_leaves_no_descendant(tmp_path: Path) -> None:
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             env=child_env(tmp_path), cwd=ROOT)  # fmt: skip
    try:
        assert owner.stdout is not None
        while (line := owner.stdout.readline()) != b"READY\n":  # structlog lines come first
            assert line, "the owner ended before it was ready"
        descendants = psutil.Process(owner.pid).children(recursive=True)
        commands = [" ".join(p.cmdline()) for p in descendants]
        # replicas, Prometheus, the load generator and its worker
        assert sum("-m loadgen" in c for c in commands) == 2, commands
        assert any("prometheus" in c for c in commands) and any("local.replica" in c for c in commands)
    finally:
        owner.kill()
        owner.wait()
    assert wait_gone(descendants, 10) == []


def test_sigterm_of_a_live_run_leaves_nothing_and_keeps_its_files(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run = subprocess.Popen(
        [sys.executable, "-m", "faastrain_async.cli.main", "run", "--backend", "kubernetes", "--local-cluster",
         "--steps", "50", "--interval", "1", "--profile", "constant:rate=5", "--out", str(out),
         "--kube", "local_function_kind=sleep", "--kube", "local_scrape_interval=0.5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(tmp_path), cwd=ROOT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (out / "steps.jsonl").exists() or (out / "steps.jsonl").read_text().count('"action": ') < 3:
            assert time.monotonic() < deadline and run.poll() is None, "the run did not get going"
            time.sleep(0.2)
        descendants = psutil.Process(run.pid).children(recursive=True)
        assert len(descendants) >= 3  # a replica, Prometheus, the load generator
        run.send_signal(signal.SIGTERM)
        printed, err = run.communicate(timeout=90)
    finally:
        run.kill()
    assert run.returncode == 143, err.decode()[-2000:]
    assert "starting a private one" in err.decode()
    assert wait_gone(descendants, 5) == []
    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] == "SIGTERM"
    assert summary["steps"] == sum(1 for s in steps if s["action"] is not None) >= 2
    assert printed.decode().count(" step ") == len(steps)  # everything printed is on disk


def test_run_uses_the_running_local_cluster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    out = tmp_path / "run"
    run = ["run", "--backend", "kubernetes", "--local-cluster", "--state-dir", str(state), "--steps", "2",
           "--interval", "1", "--profile", "constant:rate=5"]  # fmt: skip
    assert main([*run, "--kube", "function=nap"]) == 2
    assert capsys.readouterr().err.startswith(f"faastrain: error: --state-dir {state}: no local cluster runs there")
    assert main(["local", "up", "--state-dir", str(state), "--detach", *FAST_UP]) == 0
    try:
        record = read_record(state)
        assert record is not None
        capsys.readouterr()
        assert main([*run]) == 2  # the default function, matmul, is not served
        assert "it serves nap" in capsys.readouterr().err
        assert main([*run, "--kube", "function=nap", "--out", str(out)]) == 0
        err = capsys.readouterr().err
        assert f"using the local cluster in {state} (pid {record['pid']}" in err
        assert json.loads((out / "summary.json").read_text())["steps"] == 2
        assert main(["local", "status", "--state-dir", str(state)]) == 0  # still running, and it served the run
        status = capsys.readouterr().out
        invocations = int(status.split("invocations")[-1].split()[0])
        assert invocations >= 5
    finally:
        assert main(["local", "down", "--state-dir", str(state)]) == 0
