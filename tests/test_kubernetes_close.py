"""The one-flag local cluster through the sync adapter, and a clean close."""

from __future__ import annotations

import csv
import threading
from pathlib import Path

import psutil
import pytest

from faastrain_async import FaaSEnv
from faastrain_async.cli.main import main

pytestmark = pytest.mark.slow


def test_close_leaves_nothing_running_with_the_one_flag_local_cluster(tmp_path: Path) -> None:
    me = psutil.Process()
    threads_before = set(threading.enumerate())
    env = FaaSEnv("kubernetes", local_cluster=True, interval=1.0, profile="constant:rate=5",
                  kubernetes={"local_function_kind": "sleep", "local_scrape_interval": 0.5})
    env.reset(seed=0)
    _, _, _, _, info = env.step(6)
    assert info["settled"] and info["ready"] == 2
    assert me.children(recursive=True)  # replicas, Prometheus, Locust
    # The finished run's series, exported from the real Prometheus.
    out = tmp_path / "series.csv"
    prometheus = env.env.backend.local_cluster.prometheus_url
    start, end = info["window"][0] - 3, info["window"][1]
    assert main(["export", "--prometheus", prometheus, "--start", str(start), "--end", str(end), "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) >= 3 and rows[0].keys() >= {"time", "requests_per_s", "replicas"}
    assert float(rows[-1]["replicas"]) == 2.0
    assert 2.0 < float(rows[-1]["requests_per_s"]) < 10.0  # 5 req/s
    env.close()
    assert set(threading.enumerate()) == threads_before
    assert me.children(recursive=True) == []
    assert [c for c in me.net_connections(kind="tcp") if c.status != psutil.CONN_LISTEN] == []
