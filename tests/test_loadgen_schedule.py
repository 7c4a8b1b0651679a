"""The arrival schedule and the per-second statistics, without Locust."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from loadgen.plan import Plan
from loadgen.profiles import ProfileError, Trace, parse_profile
from loadgen.schedule import ArrivalSchedule, target_counts
from loadgen.stats import Aggregator, Recorder, SecondCounts, percentile

from loadgen_fixtures import TRACE

SINE = parse_profile("sine:period=20,low=5,high=200")


def _times(schedule: ArrivalSchedule, n: int) -> np.ndarray:
    out = []
    for t in schedule.times():
        out.append(t)
        if len(out) == n:
            break
    return np.array(out)


@pytest.mark.parametrize("arrivals", ["poisson", "even"])
def test_same_seed_same_schedule(arrivals: str) -> None:
    a = _times(ArrivalSchedule(SINE, seed=7, arrivals=arrivals), 3000)
    b = _times(ArrivalSchedule(SINE, seed=7, arrivals=arrivals), 3000)
    assert np.array_equal(a, b)
    assert np.all(np.diff(a) >= 0)


def test_other_seed_other_schedule() -> None:
    a = _times(ArrivalSchedule(SINE, seed=7), 3000)
    b = _times(ArrivalSchedule(SINE, seed=8), 3000)
    assert not np.array_equal(a, b)


def test_a_second_does_not_depend_on_the_ones_before() -> None:
    # Seconds are drawn from (seed, second): the same second of a shorter run is identical.
    long_run = dict(ArrivalSchedule(SINE, seed=3, duration=30).seconds())
    short_run = dict(ArrivalSchedule(SINE, seed=3, duration=12).seconds())
    for k in range(11):
        assert np.array_equal(long_run[k], short_run[k])


@pytest.mark.parametrize("arrivals", ["poisson", "even"])
def test_shares_partition_the_schedule(arrivals: str) -> None:
    whole = ArrivalSchedule(SINE, seed=5, arrivals=arrivals, duration=20)
    parts = [ArrivalSchedule(SINE, seed=5, arrivals=arrivals, duration=20, share=i, shares=3) for i in range(3)]
    merged = np.sort(np.concatenate([np.fromiter(p.times(), float) for p in parts]))
    assert np.array_equal(merged, np.fromiter(whole.times(), float))
    sizes = [len(list(p.times())) for p in parts]
    assert max(sizes) - min(sizes) <= 1


def test_even_arrivals_hold_every_second_to_one_request() -> None:
    counts = ArrivalSchedule(SINE, arrivals="even", duration=40).counts(40)
    target = target_counts(SINE, 40)
    assert np.all(np.abs(counts - target) <= 1.0)
    assert abs(counts.sum() - target.sum()) <= 1.0


def test_poisson_arrivals_scatter_around_the_target() -> None:
    seconds = 200
    counts = ArrivalSchedule(SINE, seed=11, duration=seconds).counts(seconds)
    target = target_counts(SINE, seconds)
    # Over 200 s (about 20,000 requests) the total is within 4 standard deviations.
    assert abs(counts.sum() - target.sum()) < 4 * np.sqrt(target.sum())
    # Each second scatters like a Poisson count: the normalised spread is about 1.
    z = (counts - target) / np.sqrt(target)
    assert 0.7 < z.std() < 1.3


def test_duration_ends_the_schedule() -> None:
    schedule = ArrivalSchedule(parse_profile("constant:rate=50"), arrivals="even", duration=2.5)
    times = list(schedule.times())
    assert len(times) == 125 and max(times) < 2.5


def test_trace_replay_schedule_follows_the_intervals() -> None:
    trace = Trace.from_file(TRACE, interval=30, scale=2, compress=30, loop=False)
    counts = ArrivalSchedule(trace, arrivals="even").counts(20)
    expected = np.array(trace.counts[:20]) * 2
    assert counts.tolist() == expected.tolist()  # even arrivals keep integer counts exactly


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [({"arrivals": "burst"}, "arrivals"), ({"seed": -1}, "seed"), ({"share": 2, "shares": 2}, "share"),
     ({"duration": 0}, "duration")],
)
def test_bad_schedule_arguments_are_named(kwargs: dict, named: str) -> None:
    with pytest.raises(ProfileError, match=named):
        ArrivalSchedule(SINE, **kwargs)


def test_plan_round_trips_a_trace_without_its_file() -> None:
    trace = Trace.from_file(TRACE, interval=30, scale=3, compress=30, loop=False)
    plan = Plan(ArrivalSchedule(trace, seed=4, arrivals="poisson", duration=9.0), t0=1000).for_share(1, 2)
    back = Plan.from_wire(plan.to_wire())
    assert back == plan
    assert np.array_equal(np.fromiter(back.schedule.times(), float), np.fromiter(plan.schedule.times(), float))


def test_plan_round_trips_a_replay_from_an_offset() -> None:
    trace = Trace.from_file(TRACE, compress=30, loop=False, offset=340)
    plan = Plan(ArrivalSchedule(trace, seed=2, arrivals="even"), t0=1000)
    back = Plan.from_wire(plan.to_wire())
    assert back == plan and back.schedule.profile.offset == 340  # type: ignore[attr-defined]
    assert back.schedule.counts(8).tolist() == [*trace.counts[340:], 0, 0]  # six intervals left, then the end


def test_percentile_of_a_histogram() -> None:
    hist = Counter({1.0: 50, 2.0: 45, 10.0: 4, 100.0: 1})
    assert percentile(hist, 50) == 1.0
    assert percentile(hist, 95) == 2.0
    assert percentile(hist, 99) == 10.0
    assert percentile(hist, 100) == 100.0
    assert percentile(Counter(), 50) is None


def test_recorder_books_by_second_and_hands_over_final_seconds() -> None:
    now = [100.2]
    rec = Recorder(clock=lambda: now[0])
    rec.sent(100.1, lateness=0.0)
    rec.sent(100.9, lateness=0.2)
    rec.completed(100.95, 0.01, None)
    rec.completed(101.5, 0.6, "timeout")
    assert rec.take_final(100, grace=0.3) == []
    now[0] = 101.4
    [(second, counts)] = rec.take_final(100, grace=0.3)
    assert second == 100 and (counts.sent, counts.late, counts.ok) == (2, 1, 1)
    now[0] = 102.5
    [(second, counts)] = rec.take_final(100, grace=0.3)
    assert second == 101 and counts.failures == {"timeout": 1} and counts.sent == 0


def test_aggregator_merges_reporters_and_waits_for_all() -> None:
    now = [12.0]
    lines: list[dict] = []
    agg = Aggregator(
        t0=10, reporters=2, targets=lambda k: (5.0, 5), users=lambda: 3, write=lines.append, clock=lambda: now[0]
    )
    a = SecondCounts(sent=3, ok=3, latencies=Counter({1.0: 3}))
    b = SecondCounts(sent=2, ok=1, failures=Counter({"status_500": 1}), latencies=Counter({2.0: 2}))
    agg.add("w0", [(10, SecondCounts.from_wire(a.to_wire()))])
    agg.flush()
    assert lines == []  # one reporter is missing and the grace has not run out
    agg.add("w1", [(10, SecondCounts.from_wire(b.to_wire()))])
    agg.flush()
    [line] = lines
    assert line["achieved_rps"] == 5 and line["ok"] == 4 and line["failures"] == {"status_500": 1}
    assert line["p50_ms"] == 1.0 and line["p99_ms"] == 2.0 and line["reporting"] == 2
    now[0] = 14.5  # second 11 is overdue: written with what arrived
    agg.add("w0", [(11, SecondCounts(sent=1))])
    agg.flush()
    assert lines[-1]["t"] == 11 and lines[-1]["reporting"] == 1
