"""The fitting, on synthetic measurements of functions with known parameters.

Tolerances: the model's own parameters (capacity, slopes, concurrency, mode) within 5%, the
means of sampled times within 10% and their coefficients of variation within 20% (a few
hundred lognormal samples).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from calibration_fixtures import Truth, bursts, capacity, levels, lognormal, synthetic

from faastrain_async.calibration.file import UNITS
from faastrain_async.calibration.fit import (
    Capacity,
    Estimate,
    erlang_b,
    fit_capacity,
    fit_concurrency,
    fit_service,
    fit_shared,
    overload_of,
    slope_through_origin,
    usable,
)
from faastrain_async.calibration.measurements import Burst, Measurements, Probe
from faastrain_async.calibration.parameters import fit_parameters
from faastrain_async.config import SimSettings
from faastrain_async.errors import CalibrationError

REJECTING = Truth()
QUEUEING = Truth(overload="queue", concurrency=4, replica_rate=20.0, service_time=0.2)
SHARED = Truth(concurrency=8, replica_rate=300.0, service_time=0.02, cpu_per_request=0.004, cores=1.4)


def close(value: float, expected: float, tolerance: float) -> bool:
    return abs(value - expected) <= tolerance * abs(expected)


def test_erlang_b_matches_hand_computed_values() -> None:
    # B(1, A) = A / (1 + A); B(2, 4) = (16/2) / (1 + 4 + 16/2) = 8/13.
    assert erlang_b(1, 1.0) == pytest.approx(0.5)
    assert erlang_b(2, 4.0) == pytest.approx(8 / 13)
    assert erlang_b(3, 0.0) == 0.0


def test_service_time_removes_the_client_hop_and_recovers_mean_cv_p95() -> None:
    rng = np.random.default_rng(1)
    gateway = lognormal(rng, 0.2, 0.3, 400)
    mean, cv, p95 = fit_service(Probe(tuple(t + 0.002 for t in gateway), float(np.mean(gateway))))
    assert close(mean.value, 0.2, 0.05) and mean.spread is not None and mean.spread < 0.01
    assert close(cv.value, 0.3, 0.2)
    sigma = math.sqrt(math.log1p(0.09))
    assert close(p95, math.exp(math.log(0.2) - sigma**2 / 2 + 1.6449 * sigma), 0.1)


@pytest.mark.parametrize("truth", [REJECTING, QUEUEING], ids=["reject", "queue"])
def test_concurrency_from_bursts(truth: Truth) -> None:
    estimate, how = fit_concurrency(bursts(truth), (), truth.overload)
    assert (estimate.value, estimate.spread) == (truth.concurrency, 0)
    assert ("refused" if truth.overload == "reject" else "first wave") in how


@pytest.mark.parametrize(("concurrency", "tolerance"), [(1, 0), (2, 0), (8, 1)])
def test_concurrency_from_the_loss_curve_when_bursts_were_answered_too_fast(concurrency: int, tolerance: int) -> None:
    # Few slots shape the loss curve clearly; many, less so (within one slot of eight).
    truth = Truth(concurrency=concurrency, replica_rate=concurrency / 0.2)
    fast = (Burst((("200", 0.001),) * 16),)
    measured = levels(truth, 1, np.random.default_rng(0), noise=0.005)
    estimate, how = fit_concurrency(fast, measured, overload_of(measured, fast).mode)
    assert abs(estimate.value - concurrency) <= tolerance and "Erlang loss fit" in how
    assert estimate.spread is not None and 2 * estimate.spread >= abs(estimate.value - concurrency)  # inside the band


def test_overload_is_judged_from_failure_kinds() -> None:
    assert overload_of(levels(REJECTING, 1, np.random.default_rng(0)), ()).mode == "reject"
    assert overload_of(levels(QUEUEING, 1, np.random.default_rng(0)), ()).mode == "queue"
    refused = overload_of((), bursts(REJECTING))
    assert (refused.mode, refused.rejected, refused.refused_after) == ("reject", 42, 0.002)


@pytest.mark.parametrize("truth", [REJECTING, QUEUEING], ids=["reject", "queue"])
@pytest.mark.parametrize("replicas", [1, 2, 4])
def test_capacity_is_recovered_from_served_against_sent(truth: Truth, replicas: int) -> None:
    measured = levels(truth, replicas, np.random.default_rng(replicas))
    fitted = fit_capacity(measured, truth.concurrency * replicas, truth.overload)
    assert close(fitted.rate.value, capacity(truth, replicas), 0.05)
    assert fitted.saturated and fitted.rate.spread is not None and fitted.rate.spread < 0.05 * fitted.rate.value


def test_capacity_below_saturation_is_flagged() -> None:
    measured = [lv for lv in levels(QUEUEING, 1, np.random.default_rng(0)) if lv.sent_rps < 0.8 * capacity(QUEUEING, 1)]
    assert not fit_capacity(measured, 4, "queue").saturated


def test_shared_cores_hold_capacity_back() -> None:
    t = SHARED
    capacities = [Capacity(r, Estimate(capacity(t, r), 1.0), True) for r in (1, 2, 4, 8)]
    rate, cores = fit_shared(capacities, t.cpu_per_request, t.idle_cpu)
    assert close(rate.value, t.replica_rate, 0.01)
    assert cores is not None and close(cores.value, 1.4, 0.05)


def test_no_shared_limit_when_capacity_grows_with_replicas() -> None:
    capacities = [Capacity(r, Estimate(10.0 * r, 0.2), True) for r in (1, 2, 4, 8)]
    rate, cores = fit_shared(capacities, 0.004, 0.003)
    assert rate.value == 10.0 and cores is None


def test_slope_through_origin() -> None:
    b = slope_through_origin([1.0, 2.0, 4.0], [0.5, 1.0, 2.0])
    assert b.value == pytest.approx(0.5) and b.spread == pytest.approx(0.0)


@pytest.mark.parametrize("truth", [REJECTING, QUEUEING, SHARED], ids=["reject", "queue", "shared"])
def test_every_parameter_is_recovered(truth: Truth) -> None:
    fitted = fit_parameters(synthetic(truth, seed=3))
    assert list(fitted) == list(UNITS)
    value = {name: p.value for name, p in fitted.items()}
    assert value["overload"] == truth.overload and value["concurrency"] == truth.concurrency
    for name in ("replica_rate", "cpu_per_request", "idle_cpu", "mem_base_mib", "mem_per_request_mib"):
        assert close(value[name], getattr(truth, name), 0.05), (name, value[name])
    for name in ("service_time", "cold_start", "termination"):
        assert close(value[name], getattr(truth, name), 0.1), (name, value[name])
    for name in ("service_time_cv", "cold_start_cv", "termination_cv"):
        assert close(value[name], getattr(truth, name), 0.2), (name, value[name])
    if truth.cores is None:
        assert value["cores"] is None
    else:
        assert close(value["cores"], truth.cores, 0.05)
    assert value["request_timeout"] == truth.request_timeout
    assert (value["cpu_request"], value["mem_request_mib"], value["grace_period"]) == (0.1, 128.0, 5.0)
    SimSettings(**value)  # a valid simulator
    assert all(p.spread is None or p.spread >= 0 for p in fitted.values())
    assert all(p.source for p in fitted.values())


def test_measurements_survive_their_json_form() -> None:
    m = synthetic(REJECTING)
    again = Measurements.from_json(m.to_json())
    assert again == m and fit_parameters(again) == fit_parameters(m)


def test_missing_measurements_are_named() -> None:
    m = synthetic(REJECTING)
    with pytest.raises(CalibrationError, match="no burst"):
        fit_parameters(Measurements(m.facts, m.probe, levels=m.levels, idle=m.idle))
    with pytest.raises(CalibrationError, match="cold_start: 0 pod time"):
        fit_parameters(Measurements(m.facts, m.probe, m.bursts, m.idle, m.levels))
    with pytest.raises(CalibrationError, match="no CPU reading under load"):
        fit_parameters(Measurements(m.facts, m.probe, m.bursts, m.idle, (), m.cold_starts, m.terminations))


def test_levels_past_the_generator_or_past_collapse_are_left_out_of_the_capacity() -> None:
    measured = levels(REJECTING, 1, np.random.default_rng(0))
    top = measured[-1]
    behind = replace(top, offered_rps=200.0, scheduled_rps=200.0, sent_rps=100.0, ok_rps=2.0)
    collapsed = replace(top, offered_rps=60.0, scheduled_rps=60.0, sent_rps=60.0, ok_rps=3.0)
    assert usable([*measured, behind, collapsed]) == sorted(measured, key=lambda lv: lv.sent_rps)
    fitted = fit_capacity([*measured, behind, collapsed], 2, "reject")
    assert close(fitted.rate.value, capacity(REJECTING, 1), 0.05)
