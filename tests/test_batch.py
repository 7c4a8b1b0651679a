"""Batch evaluation of many environments' profiles (loadgen.batch) against each profile's own rate."""

from __future__ import annotations

import numpy as np
import pytest

from loadgen.batch import BatchProfiles
from loadgen.profiles import Profile, ProfileError, Trace, draw_profile, parse_workload

from loadgen_fixtures import TRACE

EVERY_FAMILY = parse_workload(
    "mix:constant|sine|square|sawtooth|steps|step|diurnal|steady|flash|onoff|azure"
    f"|(trace:path={TRACE},offset=random,compress=30,scale=1..3,loop=0|1)"
)


def _scalar_rates(profiles: list[Profile], t: np.ndarray) -> np.ndarray:
    return np.array([np.asarray(p.rate(t[i])) for i, p in enumerate(profiles)])


def _times(n: int, k: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 20_000.0, (n, k))


def test_batch_rates_equal_each_profiles_own_rates() -> None:
    profiles = [EVERY_FAMILY.draw(seed) for seed in range(600)]
    batch = BatchProfiles(profiles)
    assert {type(p).__name__ for p in profiles} >= {"Trace", "Flash", "OnOff", "AzureLike", "Steps", "Steady"}
    t = _times(600, 7)
    np.testing.assert_allclose(batch.rate(t), _scalar_rates(profiles, t), rtol=1e-12, atol=0)
    one = t[:, 0]  # one time per environment: shape (N,)
    np.testing.assert_allclose(batch.rate(one), [p.rate(float(x)) for p, x in zip(profiles, one)], rtol=1e-12)


def test_replacing_profiles_keeps_every_environment_right() -> None:
    profiles = [EVERY_FAMILY.draw(seed) for seed in range(300)]
    batch = BatchProfiles(profiles)
    rng = np.random.default_rng(1)
    t = _times(300, 5, seed=2)
    for round_ in range(6):
        for i in rng.integers(0, 300, 80).tolist():  # other families, the same family, the same profile
            profiles[i] = EVERY_FAMILY.draw(10_000 + 100 * round_ + i)
            batch.replace(i, profiles[i])
        np.testing.assert_allclose(batch.rate(t), _scalar_rates(profiles, t), rtol=1e-12, atol=0)


def test_memory_per_environment_and_shared_trace_counts() -> None:
    n = 8192
    mix = parse_workload("mix:sine|flash|onoff|steady|azure|step")
    parametric = BatchProfiles([mix.draw(s) for s in range(n)])
    assert parametric.nbytes / n < 256  # well under 1 KiB per environment
    replays = parse_workload(f"trace:path={TRACE},offset=random")
    traces = [replays.draw(s) for s in range(n)]
    assert len({id(p.table) for p in traces if isinstance(p, Trace)}) == 1  # the profiles share one array
    replay = BatchProfiles(traces)
    assert replay.nbytes / n < 256  # the counts (346 numbers) are stored once, not once per environment
    # Many different step sequences drawn over time: the unused ones are dropped again.
    sequences = parse_workload("steps:rates=1..9/1..9/1..9,hold=10")
    steps = BatchProfiles([sequences.draw(s) for s in range(64)])
    for s in range(20_000):
        steps.replace(s % 64, sequences.draw(100 + s))
    assert steps.nbytes < 64 * 1024  # without dropping them: 60,000 numbers, 480 KB


def test_bad_times_and_profiles_are_refused() -> None:
    batch = BatchProfiles([draw_profile("constant:rate=1", 0)] * 3)
    with pytest.raises(ProfileError, match=r"shape \(N, k\) or \(N,\) with N = 3, got \(4, 2\)"):
        batch.rate(np.zeros((4, 2)))
    with pytest.raises(ProfileError, match="outside the batch of 3"):
        batch.replace(3, draw_profile("constant:rate=1", 0))

    class Custom:
        spec, peak, duration = "custom", 1.0, None

        def rate(self, t: float | np.ndarray) -> float | np.ndarray:
            return t

    with pytest.raises(ProfileError, match="a batch takes loadgen's concrete profiles"):
        BatchProfiles([Custom()])
