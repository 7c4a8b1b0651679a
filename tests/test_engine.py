"""The engine's live path (asyncio tasks, real clock) and its settle barrier, on a sped-up simulator."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from faastrain_async import AsyncFaaSEnv, FaaSEnv
from faastrain_async.backends.ports import EventSink
from faastrain_async.backends.sim.backend import SimBackend, SimScaler
from faastrain_async.config import SimSettings
from faastrain_async.env.rewards import seed_values
from faastrain_async.errors import SettleTimeout, WatchError
from loadgen.profiles import parse_profile

FAST = {"time_scale": 400.0, "cold_start": 4.0, "cold_start_cv": 0.0}


def live_env(**kwargs: object) -> AsyncFaaSEnv:
    sim = dict(FAST)
    sim.update(kwargs.pop("sim", {}))  # type: ignore[arg-type]
    return AsyncFaaSEnv("sim", sim=sim, interval=4.0, profile="constant:rate=10", **kwargs)  # type: ignore[arg-type]


async def test_live_steps_settle_on_events_and_report_the_ready_replicas() -> None:
    async with live_env() as env:
        assert not env.virtual
        await env.areset(seed=1)
        for action, target in ((8, 4), (5, 4), (3, 2), (10, 7)):
            obs, _, _, _, info = await env.astep(action)
            assert info["target"] == target and info["settled"]
            assert info["ready"] == target
            assert obs[3] == pytest.approx(target, abs=1e-6)  # the replicas that held in the window
            start, end = info["window"]
            assert start == info["t_settled"] and end - start == pytest.approx(4.0)
        # The supervisor and its two named watchers run while the env is open.
        names = {t.get_name() for t in asyncio.all_tasks()}
        assert "engine" in names
    assert {t.get_name() for t in asyncio.all_tasks()} <= {asyncio.current_task().get_name()}


async def test_scale_up_settle_time_is_the_cold_start() -> None:
    # A 40x clock: the margins below are 25 and 12 ms of real time, which event delivery on a
    # busy machine stays within (a faster clock would shrink them to a scheduler's hiccup).
    async with live_env(sim={"time_scale": 40.0}) as env:
        await env.areset(seed=2)
        _, _, _, _, info = await env.astep(8)  # 1 -> 4, each replica cold-starts for 4 s
        assert 4.0 <= info["settle_seconds"] < 4.0 + 1.0  # plus event delivery
        _, _, _, _, info = await env.astep(5)  # no change: nothing to wait for
        assert info["settle_seconds"] < 0.5


def test_virtual_scale_up_settles_exactly_at_the_slowest_cold_start() -> None:
    env = FaaSEnv(sim={"cold_start": 3.0, "cold_start_cv": 0.5})
    env.reset(seed=4)
    model = env.env.backend.model
    _, _, _, _, info = env.step(5 + 3)
    # Every new replica turned ready at its own drawn time; the barrier released at the last.
    assert info["settle_seconds"] > 0
    assert info["t_settled"] == env.env.engine.state.last_event_time
    assert len(model.pods) == 4
    env.close()


@pytest.mark.parametrize("policy", ["continue", "truncate", "raise"])
def test_settle_timeout_policies(policy: str) -> None:
    env = FaaSEnv(sim={"cold_start": 50.0, "cold_start_cv": 0.0}, settle_timeout=10.0, on_settle_timeout=policy)
    env.reset(seed=0)
    if policy == "raise":
        with pytest.raises(SettleTimeout, match="did not settle on 3 within settle_timeout=10.0s: 1 ready, 2 pending"):
            env.step(7)
    else:
        obs, reward, terminated, truncated, info = env.step(7)
        assert not info["settled"] and info["settle_seconds"] == pytest.approx(10.0)
        assert obs[3] == 1.0 and not info["applied"]
        assert truncated is (policy == "truncate")
        # The seed penalty: the observed replicas differ from the target.
        value = seed_values(obs[1], obs[0], obs[4], obs[5], obs[3], env.env.settings)
        assert reward == pytest.approx(value - 1000.0, rel=1e-5)
    env.close()


class FailingScaler(SimScaler):
    """Delivers events to the engine, then fails as a watcher that cannot recover does."""

    def __init__(self, scaler: SimScaler, after_seconds: float) -> None:
        super().__init__(scaler._model)
        self.after_seconds = after_seconds

    async def watch(self, sink: EventSink) -> None:
        await super().watch(sink)
        await asyncio.sleep(self.after_seconds)
        raise WatchError("watch connection lost and could not be re-established")


def failing_backend(after_seconds: float) -> SimBackend:
    backend = SimBackend(SimSettings(**FAST), parse_profile("constant:rate=5"))
    backend.scaler = FailingScaler(backend.scaler, after_seconds)
    return backend


async def test_a_failing_watcher_surfaces_from_the_next_step_not_a_hang() -> None:
    env = AsyncFaaSEnv(failing_backend(after_seconds=0.05), interval=2.0, settle_timeout=60.0)
    await env.areset(seed=0)
    with pytest.raises(WatchError, match="could not be re-established"):
        async with asyncio.timeout(10):  # the failure must wake the barrier, long before 60 s
            for _ in range(1000):
                await env.astep(10)
    await env.aclose()  # already reported: close does not raise it again
    assert {t.get_name() for t in asyncio.all_tasks()} <= {asyncio.current_task().get_name()}


def test_sync_close_reraises_a_failure_that_no_step_reported() -> None:
    env = FaaSEnv(failing_backend(after_seconds=0.05), interval=2.0)
    env.reset(seed=0)
    worker = env._call._portal.thread
    time.sleep(0.3)  # the watcher fails in the background
    with pytest.raises(WatchError):
        env.close()
    assert not worker.is_alive()


@pytest.mark.parametrize("live", [False, True])
def test_no_thread_or_task_survives_200_cycles(live: bool) -> None:
    before = set(threading.enumerate())
    sim = {"time_scale": 2000.0, "cold_start": 1.0} if live else {}
    for i in range(200):
        env = FaaSEnv(sim=sim, interval=1.0)
        env.reset(seed=i)
        env.step(6)
        env.close()
    assert set(threading.enumerate()) == before
