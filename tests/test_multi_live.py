"""The multi-agent environment on the local cluster: real replicas, gateway, Prometheus and Locust;
each function through the Kubernetes backend, all in one event loop."""

from __future__ import annotations

from statistics import mean
from typing import Any

import pytest

pytest.importorskip("pettingzoo")

from faastrain_async.local import ClusterSettings, FunctionSpec  # noqa: E402
from faastrain_async.multi import AsyncMultiEnv, parallel_env  # noqa: E402
from local_fixtures import cluster_processes, running_cluster  # noqa: E402

pytestmark = pytest.mark.slow


def step(env: Any, targets: dict[str, int]) -> tuple[Any, ...]:
    """Move each function to its target (delta actions, max_delta 5)."""
    return env.step({f: 5 + targets[f] - env.core.envs[f].target for f in env.agents})


def test_a_local_cluster_for_all_functions_and_each_agent_sees_its_own_replicas() -> None:
    kubernetes = {"local_function_kind": "sleep", "ingest_timeout": 10.0, "local_scrape_interval": 0.5}
    env = parallel_env(
        functions=["fa", "fb"], backend="kubernetes", local_cluster=True, kubernetes=kubernetes,
        profiles={"fa": "constant:rate=6", "fb": "constant:rate=2"}, interval=2.0, settle_timeout=30.0,
        observe_free_cores=True,
    )  # fmt: skip
    try:
        obs, infos = env.reset(seed=0)
        cluster = env.core.local_cluster
        assert cluster is not None and {f.name for f in cluster.functions} == {"fa", "fb"}
        for targets in ({"fa": 3, "fb": 1}, {"fa": 1, "fb": 4}):
            obs, _, _, _, infos = step(env, targets)
            assert infos["fa"]["window"] == infos["fb"]["window"]  # one window for both
            for f, n in targets.items():
                assert infos[f]["settled"] and infos[f]["ready"] == n
                assert obs[f][3] == pytest.approx(n, abs=1e-3)  # its own replicas, not the other's
                assert len(cluster.ready_pods(f)) == n
            # A second's worth of requests at least, in each function's own window.
            assert obs["fa"][2] > obs["fb"][2] > 0
            assert 0.0 <= obs["fa"][6] == obs["fb"][6] <= env.core.cores
        cluster_id = cluster.cluster_id
    finally:
        env.close()
    assert cluster_processes(cluster_id) == []


async def test_one_functions_scale_up_raises_the_others_execution_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # One BLAS thread per replica: a replica busy with a request uses one core, no more.
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    # "busy" runs one request at a time per replica, so its replicas bound the cores it uses.
    specs = [FunctionSpec("quiet", kind="matmul", matmul_size=(800, 800)),
             FunctionSpec("busy", kind="matmul", matmul_size=(800, 800), max_inflight=1)]  # fmt: skip
    async with running_cluster(specs, ClusterSettings(scrape_interval=0.5)) as cluster:
        kubernetes = {
            "kubeconfig": str(cluster.kubeconfig_path), "prometheus_url": cluster.prometheus_url,
            "gateway_url": cluster.gateway_url, "ingest_timeout": 10.0,
        }  # fmt: skip
        env = AsyncMultiEnv(
            ["quiet", "busy"], "kubernetes", kubernetes=kubernetes,
            # "busy" asks for more than one replica completes; "quiet" for a fraction of one.
            profiles={"quiet": "constant:rate=4", "busy": "constant:rate=60"}, interval=4.0, settle_timeout=30.0,
        )  # fmt: skip
        async with env:
            await _run(env, cluster)


async def _run(core: AsyncMultiEnv, cluster: Any) -> None:
    obs, _ = await core.areset(seed=1)
    quiet: dict[int, list[float]] = {1: [], 4: []}
    served: dict[int, list[float]] = {1: [], 4: []}
    for i, busy in enumerate((1, 1, 4, 1, 4, 1, 4)):
        actions = {"quiet": 5, "busy": 5 + busy - core.envs["busy"].target}
        obs, _, _, _, infos = await core.astep(actions)
        assert infos["quiet"]["ready"] == 1 and infos["busy"]["ready"] == busy
        assert obs["quiet"][3] == pytest.approx(1.0, abs=1e-3) and obs["busy"][3] == pytest.approx(busy, abs=1e-3)
        assert len(cluster.ready_pods("busy")) == busy and len(cluster.ready_pods("quiet")) == 1
        if i:  # the first window warms the replicas up
            quiet[busy].append(float(obs["quiet"][0]))
            served[busy].append(float(infos["busy"]["successes"]))
    # The busy function's scale-up served more, on the cores the quiet one also needs: the
    # quiet function's requests took longer (means, with generous margins: the machine is shared).
    assert mean(served[4]) > 1.2 * mean(served[1]), served
    assert mean(quiet[4]) > 1.25 * mean(quiet[1]), quiet
