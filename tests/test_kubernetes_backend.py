"""The Kubernetes backend end to end, on the local cluster: real API server, replica processes,
gateway, Prometheus and Locust; kubernetes_asyncio as the client, as on a real cluster."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import yaml
import pytest
import pytest_asyncio

from faastrain_async import AsyncFaaSEnv
from faastrain_async.clients.prometheus import PrometheusClient, single
from faastrain_async.errors import LoadGeneratorError, MetricsUnavailable, ScaleRejected, SettleTimeout, WatchError
from faastrain_async.local import ClusterSettings, FunctionSpec, LocalCluster
from loadgen.profiles import draw_profile

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

SCRAPE = 0.5
RATE = 8.0
FUNCTIONS = ["episode", "side-a", "side-b", "watch", "patch", "kill", "unready", "prom", "load", "gw", "cadvisor", "draws"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster() -> AsyncIterator[LocalCluster]:
    specs = [FunctionSpec(name, kind="sleep", sleep_seconds=(0.05, 0.05)) for name in FUNCTIONS]
    async with LocalCluster(specs, ClusterSettings(scrape_interval=SCRAPE)) as running:
        yield running


def make_env(cluster: LocalCluster, function: str, **kwargs: Any) -> AsyncFaaSEnv:
    kubernetes = {
        "function": function,
        "kubeconfig": str(cluster.kubeconfig_path),
        "prometheus_url": cluster.prometheus_url,
        "gateway_url": cluster.gateway_url,
        "ingest_timeout": 5.0,
        **kwargs.pop("kubernetes", {}),
    }
    settings = {"interval": 2.0, "settle_timeout": 30.0, "profile": f"constant:rate={RATE:g}", **kwargs}
    return AsyncFaaSEnv("kubernetes", kubernetes=kubernetes, **settings)


async def sent_in(env: AsyncFaaSEnv, start: float, end: float) -> float:
    """Requests the load generator sent in ``[start, end]``, from its per-second statistics.

    A second that straddles a border counts by its overlap with the window.
    """
    generator = env.backend.load.generator
    assert generator is not None
    async with asyncio.timeout(10):  # its line for a second comes a little after the second
        while generator.latest is None or generator.latest.t + 1 < end:
            await generator.next_second(timeout=5)
    return sum(s.achieved_rps * max(0.0, min(end, s.t + 1) - max(start, s.t)) for s in generator.seconds)


async def test_an_episode_measures_exactly_the_settled_replicas(cluster: LocalCluster) -> None:
    async with make_env(cluster, "episode", interval=3.0) as env:
        obs, info = await env.areset(seed=3)
        assert info["settled"] and obs[3] == 1.0
        for action in (7, 5, 4, 8, 3, 5, 9, 2, 5, 6):  # deltas +2, 0, -1, +3, -2, 0, +4, -3, 0, +1
            obs, reward, terminated, truncated, info = await env.astep(action)
            target = info["target"]
            assert info["settled"] and info["ready"] == target
            # The replicas observed over the window are the pods that were ready in it.
            assert obs[3] == pytest.approx(target, abs=1e-3)
            assert len(cluster.ready_pods("episode")) == target
            # Requests seen by Prometheus match what the generator sent, within a scrape
            # (the counter moves at scrapes; the scrapes before the window's borders stand for them).
            start, end = info["window"]
            sent = await sent_in(env, start, end)
            assert abs(obs[2] - sent) <= 2 * RATE * SCRAPE + 2, (obs[2], sent)
            assert obs[1] == pytest.approx(100.0)
            assert 0.05 <= obs[0] < 0.5  # the sleep function's 50 ms plus the gateway
            # The reward follows from that window (the seed's formula).
            extra = obs[3] - 1
            expected = 0.75 * obs[1] ** 2 + 12.5 * obs[4] + 12.5 * obs[5] - 0.25 * extra**2
            assert reward == pytest.approx(expected, rel=1e-5)
            assert not terminated
        assert truncated


async def test_two_agents_on_one_cluster_do_not_interfere(cluster: LocalCluster) -> None:
    async with make_env(cluster, "side-a") as a, make_env(cluster, "side-b") as b:
        await asyncio.gather(a.areset(seed=1), b.areset(seed=2))
        for step_a, step_b in ((8, 5), (5, 7), (3, 9)):
            (obs_a, _, _, _, info_a), (obs_b, _, _, _, info_b) = await asyncio.gather(a.astep(step_a), b.astep(step_b))
            for obs, info, name in ((obs_a, info_a, "side-a"), (obs_b, info_b, "side-b")):
                assert info["settled"] and obs[3] == pytest.approx(info["target"], abs=1e-3)
                assert len(cluster.ready_pods(name)) == info["target"]
        assert (info_a["target"], info_b["target"]) == (2, 7)


async def test_dropped_watches_and_a_too_old_resource_version_recover(cluster: LocalCluster) -> None:
    async with make_env(cluster, "watch") as env:
        await env.areset(seed=0)
        assert cluster.drop_watches() >= 1
        _, _, _, _, info = await env.astep(7)  # the watcher resumes from its resourceVersion
        assert info["settled"] and info["ready"] == 3
        cluster.compact_history()
        cluster.drop_watches()  # the resume now gets 410 Gone: the watcher re-lists
        _, _, _, _, info = await env.astep(4)
        assert info["settled"] and info["ready"] == 2
        step = asyncio.create_task(env.astep(8))  # dropped again while a scale-up settles
        await asyncio.sleep(0.3)
        cluster.drop_watches()
        _, _, _, _, info = await step
        assert info["settled"] and info["ready"] == 5


async def test_conflicts_and_server_errors_on_scale_patches_are_retried(cluster: LocalCluster) -> None:
    async with make_env(cluster, "patch") as env:
        await env.areset(seed=0)
        cluster.fail_next_scale_requests(2, status=409)
        _, _, _, _, info = await env.astep(7)
        assert info["settled"] and info["ready"] == 3
        cluster.fail_next_scale_requests(2, status=500)
        _, _, _, _, info = await env.astep(3)
        assert info["settled"] and info["ready"] == 1


async def test_retries_run_out_into_a_clear_error(cluster: LocalCluster) -> None:
    async with make_env(cluster, "patch", kubernetes={"retries": 1, "backoff": 0.05}) as env:
        await env.areset(seed=0)
        cluster.fail_next_scale_requests(2, status=500)  # as many as the attempts
        with pytest.raises(ScaleRejected, match="gave up after 2 attempts"):
            await env.astep(6)


async def test_an_invalid_scale_is_final_and_quotes_the_api_servers_message(cluster: LocalCluster) -> None:
    async with make_env(cluster, "patch", kubernetes={"retries": 3, "backoff": 0.05}) as env:
        await env.areset(seed=0)
        cluster.fail_next_scale_requests(1, status=422)  # not retried: the next request would pass
        with pytest.raises(ScaleRejected, match="refused with 422 Unprocessable Entity: injected failure of a scale request$"):
            await env.astep(6)


async def test_a_missing_deployment_is_named(cluster: LocalCluster) -> None:
    env = make_env(cluster, "patch", kubernetes={"deployment": "no-such-fn"})
    with pytest.raises(ScaleRejected, match="deployment openfaas-fn/no-such-fn not found"):
        await env.areset(seed=0)
    await env.aclose()


async def test_a_replica_killed_during_a_step_shows_and_recovers(cluster: LocalCluster) -> None:
    async with make_env(cluster, "kill", interval=3.0) as env:
        await env.areset(seed=0, options={"replicas": 2})
        step = asyncio.create_task(env.astep(5))
        await asyncio.sleep(1.0)  # inside the window
        cluster.kill_replica(cluster.ready_pods("kill")[0].name)
        obs, reward, _, _, info = await step
        # Fewer than 2 replicas held during part of the window: observed, and penalised.
        assert obs[3] < 2.0 and not info["applied"]
        assert reward < 7500 - 500  # the seed's penalty (-1000) on top of full throughput
        _, _, _, _, info = await env.astep(5)  # the restarted replica is ready again
        assert info["settled"] and info["ready"] == 2


@pytest.mark.parametrize("policy", ["continue", "raise"])
async def test_a_replica_that_never_becomes_ready_times_out_by_policy(cluster: LocalCluster, policy: str) -> None:
    async with make_env(cluster, "unready", settle_timeout=1.5, on_settle_timeout=policy) as env:
        await env.areset(seed=0, options={"replicas": 2})
        sick = cluster.ready_pods("unready")[0].name
        await cluster.fail_readiness(sick)  # it fails every probe from now on
        async with asyncio.timeout(5):  # until the watch has told the engine
            while env.engine.state.ready != 1:
                await asyncio.sleep(0.05)
        try:
            if policy == "raise":
                with pytest.raises(SettleTimeout, match="did not settle on 2 within settle_timeout=1.5s: 1 ready, 1 pending"):
                    await env.astep(5)
            else:
                obs, _, _, _, info = await env.astep(5)
                assert not info["settled"] and info["settle_seconds"] == pytest.approx(1.5, abs=0.3)
                assert obs[3] == pytest.approx(1.0, abs=1e-3) and not info["applied"]
        finally:
            await cluster.fail_readiness(sick, failing=False)


async def test_prometheus_stopped_then_restarted(cluster: LocalCluster) -> None:
    async with make_env(cluster, "prom", kubernetes={"ingest_timeout": 2.0, "retries": 1}) as env, make_env(
        cluster, "prom", kubernetes={"ingest_timeout": 2.0, "retries": 1, "on_metrics_unavailable": "stale"}
    ) as stale:
        await env.areset(seed=0)
        await stale.areset(seed=0)
        await cluster.stop_prometheus()
        try:
            with pytest.raises(MetricsUnavailable, match="Prometheus"):
                await env.astep(5)
            obs, _, _, _, info = await stale.astep(5)
            assert info["metrics_stale"] and obs[3] == 1.0
        finally:
            await cluster.start_prometheus()
        restarted = time.time()
        async with aiohttp.ClientSession() as http:  # until the new server has scraped
            prometheus = PrometheusClient(cluster.prometheus_url, http)
            async with asyncio.timeout(15):
                while (single(await prometheus.query("max(timestamp(up))", time.time()), "up") or 0) < restarted:
                    await asyncio.sleep(0.2)
        obs, _, _, _, info = await env.astep(5)
        assert not info["metrics_stale"] and obs[2] > 0


async def test_a_killed_load_generator_is_reported(cluster: LocalCluster) -> None:
    async with make_env(cluster, "load") as env:
        await env.areset(seed=0)
        pid = env.backend.load.generator.pid
        os.killpg(pid, signal.SIGKILL)
        with pytest.raises(LoadGeneratorError, match="killed by SIGKILL"):
            async with asyncio.timeout(10):
                await env.astep(5)


async def test_a_seeded_reset_runs_the_profile_its_seed_draws(cluster: LocalCluster) -> None:
    spec = "constant:rate=4|12"
    seeds: dict[str, list[int]] = {}
    for seed in range(40):
        seeds.setdefault(draw_profile(spec, seed).spec, []).append(seed)
    low, high = seeds["constant:rate=4"], seeds["constant:rate=12"]
    async with make_env(cluster, "draws", profile=spec) as env:
        load = env.backend.load
        await env.areset(seed=low[0])
        first = load.generator
        assert first is not None and first.started is not None and first.started.profile == "constant:rate=4"
        _, _, _, _, info = await env.astep(5)
        assert info["load_intended_rps"] == pytest.approx(4)
        # Another draw: the generator is replaced by one that runs the new profile.
        await env.areset(seed=high[0])
        second = load.generator
        assert second is not first and first.returncode is not None
        assert second is not None and second.started is not None and second.started.profile == "constant:rate=12"
        _, _, _, _, info = await env.astep(5)
        assert info["load_intended_rps"] == pytest.approx(12)
        # The same draw (or no seed): the generator goes on.
        await env.areset(seed=high[1])
        await env.areset()
        assert load.generator is second
        # The watcher follows the new generator: its death is reported.
        os.killpg(second.pid, signal.SIGKILL)
        with pytest.raises(LoadGeneratorError, match="killed by SIGKILL"):
            async with asyncio.timeout(10):
                await env.astep(5)


async def test_settings_are_checked_before_any_connection() -> None:
    from faastrain_async.errors import ConfigError

    with pytest.raises(ConfigError, match="function='Bad_Name'.*DNS-1123"):
        AsyncFaaSEnv("kubernetes", kubernetes={"function": "Bad_Name"})
    with pytest.raises(ConfigError, match="prometheus_url='localhost:9090'"):
        AsyncFaaSEnv("kubernetes", kubernetes={"prometheus_url": "localhost:9090"})


async def test_scaling_through_the_openfaas_gateway(cluster: LocalCluster) -> None:
    async with make_env(cluster, "gw", kubernetes={"scaler": "openfaas", "gateway_user": "admin", "gateway_password": "x"}) as env:
        await env.areset(seed=0)
        _, _, _, _, info = await env.astep(8)
        assert info["settled"] and info["ready"] == 4 and len(cluster.ready_pods("gw")) == 4


async def test_bad_credentials_are_a_clear_error(cluster: LocalCluster, tmp_path: Path) -> None:
    config = yaml.safe_load(cluster.kubeconfig_path.read_text())
    config["users"][0]["user"]["token"] = "not-the-token"
    kubeconfig = tmp_path / "kubeconfig.yaml"
    kubeconfig.write_text(yaml.safe_dump(config))
    env = make_env(cluster, "gw", kubernetes={"kubeconfig": str(kubeconfig)})
    # Whichever meets the API server first, the scale request or the pod watch, says so.
    with pytest.raises((ScaleRejected, WatchError), match="401"):
        await env.areset(seed=0)
    try:
        await env.aclose()
    except WatchError as e:  # the watcher met the bad token too, and nothing had reported it yet
        assert "401" in str(e)


async def test_cpu_and_memory_from_cadvisor_series_agree_with_the_metrics_api(cluster: LocalCluster) -> None:
    async with make_env(cluster, "cadvisor", kubernetes={"resource_metrics": "cadvisor"}, interval=3.0) as cadvisor, make_env(
        cluster, "cadvisor"
    ) as metrics_api:
        await cadvisor.areset(seed=0)
        await metrics_api.areset(seed=1)
        (obs_c, _, _, _, info_c), (obs_m, _, _, _, _) = await asyncio.gather(cadvisor.astep(6), metrics_api.astep(6))
        assert info_c["settled"] and obs_c[3] == pytest.approx(2.0, abs=1e-3)
        # Both read the same replica processes: memory per pod as a fraction of 128 Mi.
        assert 0.05 < obs_c[5] < 2.0 and obs_c[5] == pytest.approx(obs_m[5], rel=0.3)
        assert obs_c[4] >= 0.0
