"""The simulated function: queueing, timeouts, utilisation, cold starts, drains, determinism."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from faastrain_async import FaaSEnv
from faastrain_async.backends.sim.equations import FLOATS, capacity, erlang_b, stationary_wait
from faastrain_async.backends.sim.model import SimModel
from faastrain_async.clock import VirtualClock
from faastrain_async.config import SimSettings
from faastrain_async.engine.state import ClusterState
from faastrain_async.env.gym_env import run_inline
from faastrain_async.events import PodPhase
from loadgen.profiles import parse_profile


#: A function whose numbers make hand computation easy: one request at a time, 0.2 s each (5 req/s
#: per replica), queued up to 10 s; 0.02 core-s per request; memory 40 MiB + 12 MiB per request.
HAND = dict(
    service_time=0.2, service_time_cv=0.5, concurrency=1, replica_rate=None, overload="queue", cpu_per_request=0.02,
    idle_cpu=0.002, mem_base_mib=40.0, mem_per_request_mib=12.0, cold_start=3.0, cold_start_cv=0.3,
)


def world(profile: str, replicas: int, seed: int = 0, **settings: float | str | None) -> tuple[SimModel, VirtualClock, ClusterState]:
    clock = VirtualClock()
    model = SimModel(SimSettings(**{**HAND, **settings}), parse_profile(profile), clock)  # type: ignore[arg-type]
    state = ClusterState()
    model.sink = state.apply
    model.new_world(seed, replicas)
    return model, clock, state


def window(model: SimModel, clock: VirtualClock, seconds: float):
    start = clock.now()
    run_inline(clock.sleep_until(start + seconds))
    return model.window(start, start + seconds)


def test_enough_replicas_serve_everything_at_the_service_time() -> None:
    model, clock, _ = world("constant:rate=10", replicas=4)  # capacity 4 x 5 req/s = 20 req/s
    m = window(model, clock, 300)
    assert m.throughput_pct == 100.0
    assert m.requests == pytest.approx(3000, rel=0.1)  # Poisson around 10 req/s
    # Four slots at half load: an M/M/4 queue's wait on top of the service. Erlang C gives
    # 0.0174 s; Sakasegawa's approximation, which the model uses, 0.0224 s.
    assert m.mean_exec_s == pytest.approx(0.2 + 0.0224, rel=0.02)
    # CPU: 10 req/s x 0.02 core-s over 4 replicas requesting 0.1 core each, plus idle use.
    assert m.cpu_util == pytest.approx(10 * 0.02 / 0.4 + 0.002 / 0.1, rel=0.1)


def test_overload_queues_until_the_timeout_then_fails_requests() -> None:
    model, clock, _ = world("constant:rate=20", replicas=2)  # capacity 10 req/s
    window(model, clock, 30)  # fill the queue
    m = window(model, clock, 300)
    assert m.successes == pytest.approx(10 * 300, rel=0.02)  # served at capacity
    assert m.throughput_pct == pytest.approx(50, abs=3)  # the rest timed out
    assert m.mean_exec_s == pytest.approx(0.2 + 10.0, rel=0.05)  # waited a full timeout
    assert m.cpu_util == pytest.approx((5 * 0.02 + 0.002) / 0.1, rel=0.02)  # saturated


def test_the_lazy_queue_integration_agrees_with_a_naive_fine_grained_one() -> None:
    """Fast paths (empty, full, cell by cell) and split cells against 1 ms Euler steps."""
    # With no spread of service times, mean execution = service time + queue integral / served.
    model, clock, state = world("square:period=40,low=1,high=30", replicas=2, cold_start_cv=0.5, service_time_cv=0.0)
    ready_at: list[tuple[float, int]] = [(0.0, 2)]
    model.sink = lambda event: (state.apply(event), ready_at.append((event.time, state.ready)))
    for when, n in ((7.3, 6), (31.05, 1), (52.6, 4), (90.2, 3)):
        clock.call_at(when, model.set_replicas, n)
    borders = [0.0, 12.5, 30.0, 47.25, 80.0, 120.0]
    windows, below = [], []
    for start, end in zip(borders, borders[1:]):
        run_inline(clock.sleep_until(end))
        w = model.window(start, end)
        windows.append(w)
        # The stationary wait below capacity, which comes on top of the fluid queue's.
        span, intended = end - start, model.load(start, end)[0]
        ready = model._last_window[2][4] / span
        cap = capacity(model.settings, ready, FLOATS)
        below.append(stationary_wait(model.settings, w.successes / span, intended, ready, cap, FLOATS))

    s = model.settings
    per_replica = s.concurrency / s.service_time
    q, ready, i, dt = 0.0, 2, 0, 0.001
    served = dropped = 0.0
    fluid_windows = 0
    for w, extra, (start, end) in zip(windows, below, zip(borders, borders[1:])):
        w_served = w_dropped = w_wait = 0.0
        for step in range(round(start / dt), round(end / dt)):
            t = step * dt
            while i < len(ready_at) and ready_at[i][0] <= t:
                ready = ready_at[i][1]
                i += 1
            arrivals = model._cells[int(t)] * dt  # tick = 1 s: a cell's arrivals spread evenly
            limit = ready * per_replica * s.request_timeout
            q_next = q + arrivals - ready * per_replica * dt
            w_served += (q + arrivals) if q_next < 0 else ready * per_replica * dt
            q_next = max(q_next, 0.0)
            if q_next > limit:
                w_dropped += q_next - limit
                q_next = limit
            w_wait += (q + q_next) / 2 * dt
            q = q_next
        assert w.successes == pytest.approx(w_served, abs=0.05)
        assert w.requests - w.successes == pytest.approx(w_dropped, abs=0.05)
        # The longer of the stationary wait and the fluid queue's (trapezoids per cell).
        assert (w.mean_exec_s - s.service_time) * w.successes == pytest.approx(max(extra * w.successes, w_wait), rel=0.01)
        fluid_windows += w_wait > extra * w.successes
        served, dropped = served + w_served, dropped + w_dropped
    assert dropped > 10 and served > 100  # both the overloaded and the idle regimes were crossed
    assert fluid_windows >= 2


def test_more_load_per_replica_means_more_cpu_and_memory() -> None:
    low = window(*world("constant:rate=2", replicas=2)[:2], 120)
    high = window(*world("constant:rate=8", replicas=2)[:2], 120)
    assert high.cpu_util > 3 * low.cpu_util
    assert high.mem_util > low.mem_util


def test_no_request_means_no_execution_time_rather_than_zero() -> None:
    m = window(*world("constant:rate=0", replicas=1)[:2], 30)
    assert m.requests == 0 and m.mean_exec_s is None and m.throughput_pct == 100.0


def test_scale_up_waits_for_cold_starts_and_scale_down_drains() -> None:
    model, clock, state = world("constant:rate=1", replicas=1, cold_start=3.0, cold_start_cv=0.0, grace_period=5.0)
    model.set_replicas(3)
    assert (state.ready, state.pending) == (1, 2)
    run_inline(clock.sleep_until(2.99))
    assert state.ready == 1
    run_inline(clock.sleep_until(3.0))
    assert (state.ready, state.pending) == (3, 0)
    model.set_replicas(1)
    assert (state.ready, state.terminating) == (1, 2)
    run_inline(clock.sleep_until(3.0 + 5.0))  # drained within the grace period
    assert state.settled(1)
    # The oldest replica stays; the newest went first.
    assert list(model.pods) == ["fn-00000"]


def test_scale_down_removes_pending_replicas_first() -> None:
    model, clock, state = world("constant:rate=1", replicas=2, cold_start=10.0, cold_start_cv=0.0)
    model.set_replicas(4)
    model.set_replicas(2)
    assert state.ready == 2 and state.pending == 0
    assert {p for p, phase in model.pods.items() if phase is PodPhase.TERMINATING} == {"fn-00002", "fn-00003"}


def test_the_trace_replays_interval_by_interval_compressed_and_scaled() -> None:
    trace = Path(__file__).parents[1] / "faastrain_async" / "evaluation" / "data" / "azure-functions-30s.json"
    counts = json.loads(trace.read_text())[:8]
    # compress=10: a 30-second interval lasts 3 s; scale=2 doubles every count.
    model, clock, _ = world(f"trace:path={trace},interval=30,compress=10,scale=2", replicas=10)
    intended, achieved = [], []
    for i in range(8):
        run_inline(clock.sleep_until(3.0 * (i + 1)))
        rates = model.load(3.0 * i, 3.0 * (i + 1))
        intended.append(rates[0] * 3.0)
        achieved.append(rates[1] * 3.0)
    assert intended == pytest.approx([2 * c for c in counts])
    assert sum(achieved) == pytest.approx(sum(intended), rel=0.15)  # Poisson around the trace


def test_same_seed_same_episode_bit_for_bit() -> None:
    def episode(seed: int) -> list[bytes]:
        env = FaaSEnv(sim={"cold_start_cv": 0.6})
        out = [env.reset(seed=seed)[0].tobytes()]
        for a in [9, 2, 10, 0, 5, 7, 1, 8, 3, 6] * 3:
            obs, reward, _, truncated, info = env.step(a)
            out.append(obs.tobytes() + repr((reward, info["settle_seconds"])).encode())
            if truncated:
                out.append(env.reset()[0].tobytes())
        env.close()
        return out

    assert episode(3) == episode(3)
    assert episode(3) != episode(4)


def test_arrivals_do_not_depend_on_the_policy() -> None:
    def achieved(actions: list[int]) -> float:
        env = FaaSEnv(profile="constant:rate=10", interval=30.0)
        env.reset(seed=9)
        model = env.env.backend.model
        for a in actions:
            env.step(a)
        total = model._cum[0]  # arrivals so far
        env.close()
        return total, model._t

    a, ta = achieved([10, 10, 0, 0])
    b, tb = achieved([5, 5, 5, 5])
    assert not math.isclose(ta, tb)  # different settle times, different spans
    # The same cells were drawn: per second of simulated time the arrivals agree closely.
    assert a / ta == pytest.approx(b / tb, rel=0.05)


def test_observed_replicas_are_the_ready_replicas_of_every_window() -> None:
    env = FaaSEnv(sim={"cold_start_cv": 0.8})
    env.reset(seed=8)
    for action in np.random.default_rng(8).integers(0, 11, 500).tolist():
        obs, _, _, truncated, info = env.step(action)
        assert info["settled"]
        assert obs[3] == info["ready"] == info["target"] == len(env.env.engine.state.pods)
        if truncated:
            env.reset()
    env.close()


# -- the mechanisms of the model, each against a hand-computed case ----------------------------


def test_erlang_b_matches_hand_computed_losses() -> None:
    # B(2, 1) = (1/2) / (1 + 1 + 1/2); B(1, a) = a / (1 + a); fractional slots interpolate.
    assert float(erlang_b(2, np.asarray(1.0))) == pytest.approx(0.2)
    assert float(erlang_b(1, np.asarray(3.0))) == pytest.approx(0.75)
    assert float(erlang_b(1.5, np.asarray(1.0))) == pytest.approx((0.5 + 0.2) / 2)
    assert float(erlang_b(10, np.asarray(8.0))) == pytest.approx(0.12166, abs=1e-4)


def test_a_rejecting_function_loses_requests_as_an_erlang_loss_system() -> None:
    # Two replicas of one slot, 0.2 s each, offered 5 req/s: one erlang on two slots loses 20%.
    model, clock, _ = world("constant:rate=5", replicas=2, overload="reject", service_time_cv=0.0)
    m = window(model, clock, 2000)
    assert m.throughput_pct == pytest.approx(80.0, abs=1.0)
    assert m.mean_exec_s == pytest.approx(0.2)  # nobody waits: the rest are refused at once


def test_a_rejecting_function_past_capacity_refuses_the_excess() -> None:
    # One slot of 0.2 s (5 req/s) offered 50 req/s: B(1, 10) = 10/11 of the requests are refused.
    model, clock, _ = world("constant:rate=50", replicas=1, overload="reject", service_time_cv=0.0)
    m = window(model, clock, 600)
    assert m.successes / 600 == pytest.approx(50 / 11, rel=0.03)


def test_shared_cores_cap_the_capacity_and_more_replicas_take_from_it() -> None:
    # 4 replicas could serve 20 req/s, but 1 core at 0.05 core-s per request serves 20 minus
    # what the idle replicas use: (1 - 4 x 0.05) / 0.05 = 16 req/s; 8 replicas: 12 req/s.
    settings = dict(cores=1.0, cpu_per_request=0.05, idle_cpu=0.05, service_time_cv=0.0, request_timeout=1.0)
    four = window(*world("constant:rate=30", replicas=4, **settings)[:2], 600)
    eight = window(*world("constant:rate=30", replicas=8, **settings)[:2], 600)
    assert four.successes / 600 == pytest.approx(16, rel=0.03)
    assert eight.successes / 600 == pytest.approx(12, rel=0.03)
    # Below both capacities, the busier cores make everyone slower.
    four = window(*world("constant:rate=10", replicas=4, **settings)[:2], 600)
    eight = window(*world("constant:rate=10", replicas=8, **settings)[:2], 600)
    assert four.throughput_pct > 99 and eight.throughput_pct > 99
    assert eight.mean_exec_s > four.mean_exec_s


def test_requests_sharing_the_cores_wait_as_in_an_mm1_station() -> None:
    # One core, 0.1 core-s per request, 5 req/s: CPU utilisation 0.5, and an M/M/1 station's
    # wait is rho / (1 - rho) service times = 0.1 s on top of the 0.2 s latency alone.
    model, clock, _ = world(
        "constant:rate=5", replicas=10, cores=1.0, cpu_per_request=0.1, idle_cpu=0.0, service_time_cv=0.0,
        overload="reject", concurrency=4,
    )
    m = window(model, clock, 2000)
    assert m.mean_exec_s == pytest.approx(0.3, rel=0.03)


def test_a_removed_replica_is_deleted_after_its_termination_time_within_the_grace_period() -> None:
    model, clock, state = world("constant:rate=1", replicas=3, termination=2.0, termination_cv=0.0, grace_period=5.0)
    model.set_replicas(1)
    run_inline(clock.sleep_until(1.99))
    assert state.terminating == 2
    run_inline(clock.sleep_until(2.0))
    assert state.settled(1)
    model, clock, state = world("constant:rate=1", replicas=3, termination=9.0, termination_cv=0.0, grace_period=5.0)
    model.set_replicas(1)
    run_inline(clock.sleep_until(5.0))  # killed at the end of the grace period
    assert state.settled(1)
