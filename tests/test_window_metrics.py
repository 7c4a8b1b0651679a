"""A live window's metrics: whole request counts from the counters' raw samples, windows whose
series restarted refused (or flagged stale), and Prometheus answers that are not its JSON.

The live tests run the local cluster with its real Prometheus; a real HTTP server on
127.0.0.1 stands between the env and Prometheus where an answer must be garbage.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from faastrain_async import AsyncFaaSEnv
from faastrain_async.backends.kubernetes.metrics import window_counts
from faastrain_async.clients.prometheus import PrometheusClient, single
from faastrain_async.errors import MetricsUnavailable
from faastrain_async.local import ClusterSettings, FunctionSpec, LocalCluster

SCRAPE = 0.5
RATE = 8.0

# -- the count's rule, on samples written by hand --------------------------------------------

GATEWAY = {"job": "gateway", "instance": "127.0.0.1:8080"}
SCRAPES = [(dict(GATEWAY), [(t, 1.0) for t in (100.0, 100.5, 101.0, 101.5, 102.0, 102.5, 103.0)])]


def counter(code: str, samples: list[tuple[float, float]]) -> tuple[dict[str, str], list[tuple[float, float]]]:
    return {**GATEWAY, "code": code}, samples


def test_counts_are_the_counters_differences_between_the_scrapes_at_the_edges() -> None:
    ok = counter("200", [(100.0, 10), (100.5, 12), (101.0, 15), (101.5, 15), (102.0, 21), (102.5, 30), (103.0, 31)])
    busy = counter("429", [(101.0, 2), (101.5, 3), (102.0, 5), (102.5, 5), (103.0, 5)])  # created after the start's scrape
    # [100.7, 102.2]: the scrapes at 100.5 and 102.0 stand for the edges.
    requests, successes = window_counts(SCRAPES, [ok, busy], 100.7, 102.2)
    assert (requests, successes) == (21 - 12 + 5, 21 - 12)
    # The next window starts where this one ended: every request is counted once.
    after, _ = window_counts(SCRAPES, [ok, busy], 102.2, 103.0)
    assert requests + after == (31 - 12) + 5


def test_a_counter_that_drops_inside_the_window_is_refused() -> None:
    restarted = counter("200", [(100.0, 50), (100.5, 52), (101.0, 3), (101.5, 6), (102.0, 9)])
    with pytest.raises(MetricsUnavailable, match="restarted inside the window"):
        window_counts(SCRAPES, [restarted], 100.2, 102.0)


def test_no_scrape_at_the_start_is_refused_not_counted_as_zero() -> None:
    late = [(dict(GATEWAY), [(t, 1.0) for t in (101.5, 102.0, 102.5)])]
    with pytest.raises(MetricsUnavailable, match="no scrape of the gateway at or before the window's start"):
        window_counts(late, [counter("200", [(101.5, 40), (102.0, 44), (102.5, 48)])], 101.0, 102.5)


def test_a_gap_in_the_scrapes_at_an_edge_is_refused() -> None:
    gap = [(dict(GATEWAY), [(t, 1.0) for t in (100.0, 100.5, 101.0, 104.0, 104.5, 105.0)])]
    with pytest.raises(MetricsUnavailable, match="was not scraping"):
        window_counts(gap, [counter("200", [(100.0, 1), (101.0, 2), (104.0, 9), (105.0, 10)])], 103.5, 105.0)


def test_a_counter_missing_from_the_scrape_at_the_end_is_refused() -> None:
    vanished = counter("200", [(100.0, 1), (100.5, 2), (101.0, 3)])
    with pytest.raises(MetricsUnavailable, match="missing from the gateway's scrape"):
        window_counts(SCRAPES, [vanished], 100.2, 102.2)


# -- live, on the local cluster ----------------------------------------------------------------

class Garbling:
    """A real HTTP server on 127.0.0.1 in front of Prometheus: it passes queries on, or answers
    ``garbage`` (a status and a body) instead."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.garbage: tuple[int, str, str] | None = None  # status, content type, body
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self, http: aiohttp.ClientSession) -> None:
        async def query(request: web.Request) -> web.Response:
            if self.garbage is not None:
                status, content_type, body = self.garbage
                return web.Response(status=status, text=body, content_type=content_type)
            async with http.get(f"{self.upstream}/api/v1/query", params=request.query) as answer:
                return web.Response(status=answer.status, body=await answer.read(), content_type="application/json")

        app = web.Application()
        app.router.add_get("/api/v1/query", query)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster() -> AsyncIterator[LocalCluster]:
    specs = [FunctionSpec(name, kind="sleep", sleep_seconds=(0.05, 0.05)) for name in ("whole", "restart", "garbage")]
    async with LocalCluster(specs, ClusterSettings(scrape_interval=SCRAPE)) as running:
        yield running


def make_env(
    cluster: LocalCluster, function: str, prometheus_url: str | None = None, *, interval: float = 2.0, **kubernetes: Any
) -> AsyncFaaSEnv:
    settings = {
        "function": function,
        "kubeconfig": str(cluster.kubeconfig_path),
        "prometheus_url": prometheus_url or cluster.prometheus_url,
        "gateway_url": cluster.gateway_url,
        "ingest_timeout": 3.0,
        "retries": 1,
        "backoff": 0.05,
        **kubernetes,
    }
    return AsyncFaaSEnv("kubernetes", kubernetes=settings, interval=interval, settle_timeout=30.0, profile=f"constant:rate={RATE:g}")


async def sent_in(env: AsyncFaaSEnv, start: float, end: float) -> float:
    """Requests the load generator sent in ``[start, end]``, from its per-second statistics."""
    generator = env.backend.load.generator
    assert generator is not None
    async with asyncio.timeout(10):
        while generator.latest is None or generator.latest.t + 1 < end:
            await generator.next_second(timeout=5)
    return sum(s.achieved_rps * max(0.0, min(end, s.t + 1) - max(start, s.t)) for s in generator.seconds)


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="module")
async def test_live_request_counts_are_whole_and_match_what_was_sent(cluster: LocalCluster) -> None:
    async with make_env(cluster, "whole") as env:
        await env.areset(seed=0)
        for action in (5, 6, 5, 4):
            obs, _, _, _, info = await env.astep(action)
            assert not info["metrics_stale"]
            assert obs[2] == int(obs[2]) and obs[2] > 0, obs[2]  # no extrapolated 100.49999...
            sent = await sent_in(env, *info["window"])
            # The edges are the scrapes before them: a shift of less than a scrape at each.
            assert abs(obs[2] - sent) <= 2 * RATE * SCRAPE + 2, (obs[2], sent)


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="module")
async def test_the_shortest_live_window_allowed_holds_a_load_report(cluster: LocalCluster) -> None:
    async with make_env(cluster, "whole", interval=1.0) as env:
        await env.areset(seed=0)
        for _ in range(6):
            obs, _, _, _, info = await env.astep(5)
            assert info["window"][1] - info["window"][0] == pytest.approx(1.0)
            assert info["load_intended_rps"] == pytest.approx(RATE) and obs[2] == int(obs[2])


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="module")
async def test_the_window_after_a_prometheus_restart_is_refused_or_stale_never_zero(cluster: LocalCluster) -> None:
    slow_ingest = {"ingest_timeout": 20.0}  # room for Prometheus to come back before the window is read
    async with make_env(cluster, "restart", **slow_ingest) as strict, make_env(
        cluster, "restart", on_metrics_unavailable="stale", **slow_ingest
    ) as stale:
        await strict.areset(seed=0)
        await stale.areset(seed=0)
        obs, _, _, _, info = await stale.astep(5)
        assert not info["metrics_stale"] and obs[2] > 0
        before = obs[2]
        await cluster.stop_prometheus()
        # Windows that start while Prometheus is down; it restarts (same data) while they run,
        # and the load generator keeps sending throughout.
        steps = asyncio.gather(strict.astep(5), stale.astep(5), return_exceptions=True)
        await asyncio.sleep(0.5)
        await cluster.start_prometheus()
        results = await steps
        assert isinstance(results[0], MetricsUnavailable), results[0]
        assert "cannot be counted" in str(results[0]), results[0]
        obs, _, _, _, info = results[1]  # type: ignore[misc]
        assert info["metrics_stale"] and obs[2] == before  # the last real window, flagged
        # Once the new server scrapes again, windows are counted as before.
        async with aiohttp.ClientSession() as http:
            prometheus = PrometheusClient(cluster.prometheus_url, http)
            restarted = time.time()
            async with asyncio.timeout(15):
                while (single(await prometheus.query("max(timestamp(up))", time.time()), "up") or 0) < restarted:
                    await asyncio.sleep(0.2)
        obs, _, _, _, info = await stale.astep(5)
        assert not info["metrics_stale"] and obs[2] > 0 and obs[2] == int(obs[2])


GARBAGE = [
    (200, "text/plain", "this is not json"),
    (200, "text/html", "<html><body><h1>Welcome to nginx!</h1></body></html>"),
    (200, "application/json", "[1, 2, 3]"),
    (200, "application/json", '{"status": "error", "errorType": "bad_data", "error": "parse error"}'),
    (200, "application/json", '{"status": "success"}'),
    (200, "application/json", '{"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "many"]}]}}'),
    (200, "application/json", '{"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {}, "values": [[1]]}]}}'),
    (404, "text/html", "<html>404 page not found</html>"),
]


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="module")
async def test_garbage_answers_raise_metrics_unavailable_quoting_them_and_stale_covers_them(cluster: LocalCluster) -> None:
    async with aiohttp.ClientSession() as http:
        proxy = Garbling(cluster.prometheus_url)
        await proxy.start(http)
        try:
            async with make_env(cluster, "garbage", proxy.url, interval=1.0) as strict, make_env(
                cluster, "garbage", proxy.url, interval=1.0, on_metrics_unavailable="stale"
            ) as stale:
                await strict.areset(seed=0)
                await stale.areset(seed=0)
                obs, _, _, _, info = await stale.astep(5)
                assert not info["metrics_stale"]
                before = obs[2]
                for garbage in GARBAGE:
                    proxy.garbage = garbage
                    # Both envs step at once: one window's time for the pair.
                    failed, (obs, _, _, _, info) = await asyncio.gather(strict.astep(5), stale.astep(5), return_exceptions=True)
                    assert isinstance(failed, MetricsUnavailable), failed
                    message = str(failed)
                    assert proxy.url in message and "gateway_service_count" in message, message
                    if garbage[2].startswith(("this", "<html", "[1")):
                        assert repr(garbage[2])[:40] in message, message  # the answer, quoted
                    assert info["metrics_stale"] and obs[2] == before, garbage
                proxy.garbage = None
                obs, _, _, _, info = await stale.astep(5)
                assert not info["metrics_stale"]
        finally:
            await proxy.stop()


@pytest.mark.asyncio
async def test_a_long_answer_is_quoted_in_part() -> None:
    async with aiohttp.ClientSession() as http:
        proxy = Garbling("http://127.0.0.1:1")
        proxy.garbage = (200, "text/html", "<html>" + "x" * 100_000 + "</html>")
        await proxy.start(http)
        try:
            with pytest.raises(MetricsUnavailable, match=r"'up'.*not its JSON.*<html>x+\.\.\.'$") as raised:
                await PrometheusClient(proxy.url, http, retries=0).query("up", time.time())
            assert len(str(raised.value)) < 500
        finally:
            await proxy.stop()
