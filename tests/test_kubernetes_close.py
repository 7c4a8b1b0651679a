"""The one-flag local cluster through the sync adapter, and a clean close."""

from __future__ import annotations

import threading

import psutil
import pytest

from faastrain_async import FaaSEnv

pytestmark = pytest.mark.slow


def test_close_leaves_nothing_running_with_the_one_flag_local_cluster() -> None:
    me = psutil.Process()
    threads_before = set(threading.enumerate())
    env = FaaSEnv("kubernetes", local_cluster=True, interval=1.0, profile="constant:rate=5",
                  kubernetes={"local_function_kind": "sleep", "local_scrape_interval": 0.5})
    env.reset(seed=0)
    _, _, _, _, info = env.step(6)
    assert info["settled"] and info["ready"] == 2
    assert me.children(recursive=True)  # replicas, Prometheus, Locust
    env.close()
    assert set(threading.enumerate()) == threads_before
    assert me.children(recursive=True) == []
    assert [c for c in me.net_connections(kind="tcp") if c.status != psutil.CONN_LISTEN] == []
