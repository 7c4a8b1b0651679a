"""The baseline autoscalers on hand-made observation sequences: each follows its documented rule."""

from __future__ import annotations

import numpy as np
import pytest

from faastrain_async.config import EnvSettings
from faastrain_async.env.actions import action_for
from faastrain_async.errors import ConfigError
from faastrain_async.policies import make_policy
from faastrain_async.policies.baselines import BestStaticPolicy, HPAPolicy, KPAPolicy, OpenFaaSPolicy, window_steps

S = EnvSettings()  # interval 30 s, replicas in [1, 10], delta actions -5..+5


def obs(*, exec_s: float = 0.2, thr: float = 100.0, requests: float = 0.0, replicas: float = 1.0, cpu: float = 0.0, mem: float = 0.3) -> np.ndarray:
    return np.array([exec_s, thr, requests, replicas, cpu, mem], dtype=np.float32)


def info(target: int, **extra: object) -> dict[str, object]:
    return {"target": target, "exec_time_missing": False, "metrics_stale": False, **extra}


def decided(action: int) -> int:
    """The replica delta an action asks for (delta mode)."""
    return action - S.max_delta


def test_window_steps_rounds_up_and_never_below_one() -> None:
    assert window_steps(300, 30) == 10
    assert window_steps(60, 30) == 2
    assert window_steps(45, 30) == 2
    assert window_steps(6, 30) == 1  # shorter than a window: the one window available


# --- HPA ---------------------------------------------------------------------------------


def test_hpa_scales_up_on_overload_by_the_ratio_rule() -> None:
    hpa = make_policy("hpa", S)
    hpa.reset()
    # ceil(2 · 1.4 / 0.7) = 4: two more replicas.
    assert decided(hpa.act(obs(cpu=1.4, replicas=2), info(2))) == 2


def test_hpa_holds_within_the_tolerance() -> None:
    hpa = make_policy("hpa:target=0.5", S)
    hpa.reset()
    assert decided(hpa.act(obs(cpu=0.54, replicas=4), info(4))) == 0  # ratio 1.08 <= 1.1
    assert decided(hpa.act(obs(cpu=0.56, replicas=4), info(4))) == 1  # ratio 1.12: ceil(4.48) = 5


def test_hpa_scale_down_waits_for_the_stabilisation_window() -> None:
    hpa = make_policy("hpa", S)  # 300 s = 10 recommendations
    hpa.reset()
    assert decided(hpa.act(obs(cpu=0.7, replicas=6), info(6))) == 0  # recommends 6
    deltas = [decided(hpa.act(obs(cpu=0.1, replicas=6), info(6))) for _ in range(9)]
    assert deltas == [0] * 9  # the 6 is still within the last 300 s
    # The 10th low window pushes the 6 out: down to the highest of the window, ceil(6 · 0.1 / 0.7) = 1.
    assert decided(hpa.act(obs(cpu=0.1, replicas=6), info(6))) == -5


def test_hpa_scale_down_goes_to_the_highest_recent_recommendation() -> None:
    hpa = HPAPolicy(S, downscale_window=60)  # 2 recommendations
    hpa.reset()
    assert decided(hpa.act(obs(cpu=0.35, replicas=8), info(8))) == -4  # ceil(8 · 0.5) = 4
    assert decided(hpa.act(obs(cpu=0.1, replicas=8), info(8))) == -4  # recommends 2; the window's max is 4
    assert decided(hpa.act(obs(cpu=0.1, replicas=4), info(4))) == -2  # recommends 1; the window holds 2 and 1


def test_hpa_on_requests_per_replica_and_on_stale_metrics() -> None:
    hpa = make_policy("hpa:metric=rps", S)  # target 3.5 req/s per replica
    hpa.reset()
    # 300 requests in 30 s on 2 replicas: 5 req/s each; ceil(2 · 5 / 3.5) = 3.
    assert decided(hpa.act(obs(requests=300, replicas=2), info(2))) == 1
    assert decided(hpa.act(obs(requests=3000, replicas=3), info(3, metrics_stale=True))) == 0


def test_hpa_rejects_bad_options_naming_them() -> None:
    with pytest.raises(ConfigError, match=r"metric='mem'.*cpu, rps"):
        make_policy("hpa:metric=mem", S)
    with pytest.raises(ConfigError, match="unknown option"):
        make_policy("hpa:window=3", S)
    with pytest.raises(ConfigError, match="target"):
        make_policy("hpa:target=-1", S)


# --- KPA ---------------------------------------------------------------------------------


def test_kpa_uses_littles_law_for_concurrency() -> None:
    kpa = KPAPolicy(S)
    # 600 requests in 30 s at 0.35 s each: L = 20 · 0.35 = 7 in flight.
    assert kpa.concurrency(obs(requests=600, exec_s=0.35), info(1)) == pytest.approx(7.0, rel=1e-6)
    assert kpa.concurrency(obs(requests=0), info(1, exec_time_missing=True)) == 0.0
    # Requests completed but none was timed: the last measured execution time stands in.
    assert kpa.concurrency(obs(requests=300, exec_s=0.0), info(1, exec_time_missing=True)) == pytest.approx(3.5, rel=1e-6)
    fresh = KPAPolicy(S)
    assert fresh.concurrency(obs(requests=300, exec_s=0.0), info(1, exec_time_missing=True)) is None


def test_kpa_panic_mode_entry_hold_and_exit() -> None:
    kpa = make_policy("kpa", S)
    assert isinstance(kpa, KPAPolicy)
    kpa.reset()
    # A burst on one replica: concurrency 4 -> ceil(4 / 0.7) = 6 replicas, 6x ready >= 200%: panic.
    a = kpa.act(obs(requests=600, exec_s=0.2, replicas=1), info(1))
    assert kpa.panicking and decided(a) == 5  # 6, of which one step reaches +5
    # Load falls away; in panic the autoscaler never scales down.
    quiet = obs(requests=30, exec_s=0.2, replicas=6)
    assert decided(kpa.act(quiet, info(6))) == 0 and kpa.panicking  # 30 s since the last panic window
    assert decided(kpa.act(quiet, info(6))) == 0 and kpa.panicking  # 60 s: not yet more than the stable window
    a = kpa.act(quiet, info(6))  # 90 s > 60 s: panic ends; stable decision, bounded by the scale-down rate
    assert not kpa.panicking
    assert decided(a) == -3  # floor(6 / 2) = 3 is the lowest one step may go


def test_kpa_stable_mode_averages_the_stable_window() -> None:
    kpa = KPAPolicy(S)
    kpa.reset()
    # Concurrencies 2.6 and 1.2 (no panic: 4/4 and 2/4 < 200%): mean 1.9 -> ceil(1.9 / 0.7) = 3.
    kpa.act(obs(requests=390, exec_s=0.2, replicas=4), info(4))
    assert not kpa.panicking
    assert decided(kpa.act(obs(requests=180, exec_s=0.2, replicas=4), info(4))) == -1


# --- OpenFaaS ----------------------------------------------------------------------------


def test_openfaas_steps_up_while_the_alert_fires_and_drops_to_min_when_it_resolves() -> None:
    of = make_policy("openfaas", S)
    assert isinstance(of, OpenFaaSPolicy) and of.step == 2  # ceil(10 · 20%)
    of.reset()
    firing = obs(requests=240, replicas=2)
    assert decided(of.act(firing, info(2, successes=240))) == 2  # 8 req/s > 5: +2
    assert decided(of.act(firing, info(4, successes=240))) == 2
    assert decided(of.act(firing, info(10, successes=240))) == 0  # at the maximum
    assert decided(of.act(obs(requests=120, replicas=10), info(10, successes=120))) == -5  # 4 req/s: back to 1 (one step: -5)
    # Exactly the threshold does not fire (the alert is "> 5").
    assert decided(of.act(obs(requests=150, replicas=1), info(1, successes=150))) == 0


def test_openfaas_rate_window_longer_than_an_interval_averages_steps() -> None:
    of = OpenFaaSPolicy(S, window=60)  # two windows
    of.reset()
    assert decided(of.act(obs(requests=240), info(1, successes=240))) == 2  # 8 req/s
    assert decided(of.act(obs(requests=90), info(3, successes=90))) == 2  # mean of 8 and 3: 5.5 > 5
    assert decided(of.act(obs(requests=30), info(5, successes=30))) == -4  # mean of 3 and 1: resolved, back to 1


# --- static ------------------------------------------------------------------------------


def test_static_reaches_its_count_and_stays() -> None:
    st = make_policy("static:4", S)
    assert st.name == "static:4"
    st.reset()
    assert decided(st.act(obs(replicas=1), info(1))) == 3
    assert decided(st.act(obs(replicas=4), info(4))) == 0
    assert make_policy("static:replicas=7", S).act(obs(), info(9)) == action_for(7, 9, S)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("static:11", r"replicas|value.*\[1, 10\]"),
        ("static:x", "'x' is not an integer"),
        ("static", "needs a replica count"),
        ("static:4,replicas=4", "once"),
    ],
)
def test_static_rejects_bad_counts(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_policy(spec, S)


def test_best_static_needs_hindsight_and_picks_the_best_count() -> None:
    best = make_policy("best-static", S)
    assert isinstance(best, BestStaticPolicy)
    with pytest.raises(ConfigError, match="faastrain evaluate"):
        best.act(obs(), info(1))
    scores = {n: -abs(n - 6) for n in range(1, 11)}
    scores[8] = 0  # a tie with 6: the fewer replicas win
    assert best.choose(scores) == 6
    assert decided(best.act(obs(), info(1))) == 5
    with pytest.raises(ConfigError, match="no score"):
        best.choose({1: 0.0})
