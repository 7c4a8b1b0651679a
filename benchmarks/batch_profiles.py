"""Cost of workload profiles: drawing them, and evaluating N of them at once with loadgen.batch.

Prints, for a batch of N environments (default 8192) of each family and of a mixture of
all of them: the bytes the batch holds per environment, the time of one ``rate`` call on
times of shape (N, k), the time per replaced profile, and the time of one draw from a
parsed spec. Run from the repository root::

    python benchmarks/batch_profiles.py [--n 8192] [--k 32] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from loadgen.batch import BatchProfiles
from loadgen.profiles import parse_workload

TRACE = "faastrain_async/evaluation/data/azure-functions-30s.json"
WORKLOADS = {
    "sine": "sine",
    "step": "step",
    "diurnal": "diurnal",
    "steady": "steady",
    "flash": "flash",
    "onoff": "onoff",
    "azure": "azure",
    "trace": f"(trace:path={TRACE},offset=random,compress=30)",
}


def best_of(repeat: int, call: object) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8192, help="environments in the batch")
    parser.add_argument("--k", type=int, default=32, help="times per environment in one call")
    parser.add_argument("--repeat", type=int, default=5, help="best of this many runs")
    args = parser.parse_args()
    n, k = args.n, args.k
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; N={n} environments, k={k} times each")
    print(f"{'workload':<10} {'bytes/env':>9} {'rate (N,k)':>11} {'per env·time':>12} {'replace':>9} {'draw':>8}")
    t = np.random.default_rng(0).uniform(0.0, 3600.0, (n, k))
    for name, member in [*WORKLOADS.items(), ("mix of all", "|".join(WORKLOADS.values()))]:
        workload = parse_workload(f"mix:{member}")
        profiles = [workload.draw(seed) for seed in range(n)]
        batch = BatchProfiles(profiles)
        rate = best_of(args.repeat, lambda: batch.rate(t))
        fresh = [workload.draw(n + seed) for seed in range(1000)]
        replace = best_of(1, lambda: [batch.replace(i, p) for i, p in enumerate(fresh)]) / len(fresh)
        draw = best_of(1, lambda: [workload.draw(seed) for seed in range(1000)]) / 1000
        print(
            f"{name:<10} {batch.nbytes / n:>9.0f} {rate * 1e3:>9.1f}ms {rate / (n * k) * 1e9:>10.0f}ns"
            f" {replace * 1e6:>7.1f}µs {draw * 1e6:>6.0f}µs"
        )


if __name__ == "__main__":
    main()
