"""The ``local`` CLI (up --detach, status, down), user handlers, and settings errors."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import aiohttp
import psutil
import pytest
from local_fixtures import cluster_processes, running_cluster, settings

from faastrain_async.cli.main import main
from faastrain_async.errors import ConfigError
from faastrain_async.local import ClusterSettings, FunctionSpec, LocalCluster, PrometheusNotFound

pytestmark = pytest.mark.slow


def run_cli(*argv: str) -> int:
    return main(["local", *argv])


def test_up_detach_status_down_leaves_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = str(tmp_path / "state")
    try:
        code = run_cli("up", "--state-dir", state, "--detach", "--function", "matmul", "--function", "nap=sleep",
                       "--replicas", "2", "--scrape-interval", "0.5", "--matmul-size", "20:40")  # fmt: skip
        out = capsys.readouterr().out
        assert code == 0, out
        record = json.loads((tmp_path / "state" / "cluster.json").read_text())
        for key in ("kubeconfig", "api_url", "gateway_url", "prometheus_url"):
            assert record[key] and str(record[key]) in out
        assert run_cli("up", "--state-dir", state, "--detach") == 2  # one cluster per state dir
        assert f"already runs in {state} (pid {record['pid']}" in capsys.readouterr().err
        assert run_cli("status", "--state-dir", state) == 0
        status = capsys.readouterr().out
        assert "matmul" in status and "nap" in status and "available   2" in status
        children = cluster_processes(record["cluster_id"])  # marked: 4 replicas and Prometheus
        assert len(children) == 5 and [p.name() for p in children].count("prometheus") == 1
    finally:
        assert run_cli("down", "--state-dir", state) == 0
    assert "local cluster stopped" in capsys.readouterr().out
    assert not psutil.pid_exists(record["pid"]) or psutil.Process(record["pid"]).status() == psutil.STATUS_ZOMBIE
    psutil.wait_procs(children, timeout=10)
    assert cluster_processes(record["cluster_id"]) == []
    assert run_cli("status", "--state-dir", state) == 1


def test_up_reports_bad_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("up", "--state-dir", str(tmp_path), "--function", "x=nosuchkind") == 2
    assert "nosuchkind" in capsys.readouterr().err
    assert run_cli("up", "--state-dir", str(tmp_path), "--matmul-size", "big") == 2
    assert "--matmul-size='big'" in capsys.readouterr().err


async def test_user_handler_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_handlers.py").write_text(
        textwrap.dedent(
            """
            async def shout(body: bytes) -> str:
                return body.decode().upper()

            def count(body: bytes) -> dict:
                return {"length": len(body)}
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    functions = [FunctionSpec("shout", kind="my_handlers:shout"), FunctionSpec("count", kind="my_handlers:count")]
    async with running_cluster(functions, settings()) as cluster, aiohttp.ClientSession() as http:
        async with http.post(f"{cluster.gateway_url}/function/shout", data=b"hello") as response:
            assert response.status == 200 and await response.text() == "HELLO"
        async with http.post(f"{cluster.gateway_url}/function/count", data=b"12345") as response:
            assert await response.json() == {"length": 5}


def test_bad_settings_name_the_value() -> None:
    with pytest.raises(ConfigError, match="'Bad_Name'"):
        FunctionSpec("Bad_Name")
    with pytest.raises(ConfigError, match="matmul_size high"):
        FunctionSpec(matmul_size=(10, 5))
    with pytest.raises(ConfigError, match="cpu quantity '1 core'"):
        FunctionSpec(cpu_request="1 core")
    with pytest.raises(ConfigError, match="scrape_interval=0.01"):
        ClusterSettings(scrape_interval=0.01)
    with pytest.raises(ConfigError, match="api_port=70000"):
        ClusterSettings(api_port=70000)
    with pytest.raises(ConfigError, match="unique"):
        LocalCluster([FunctionSpec("a"), FunctionSpec("a")], ClusterSettings(prometheus=False))
    with pytest.raises(ConfigError, match="no_such_module_xyz"):
        LocalCluster([FunctionSpec("a", kind="no_such_module_xyz:f")], ClusterSettings(prometheus=False))


def test_missing_prometheus_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(PrometheusNotFound, match="apt-get install -y prometheus") as caught:
        LocalCluster(settings=ClusterSettings(prometheus_binary=str(tmp_path / "absent")))
    assert "--prometheus-binary" in str(caught.value) and "--no-prometheus" in str(caught.value)


