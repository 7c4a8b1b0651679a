"""One episode on the local cluster, step by step: where a real step's time goes.

For each step it prints the settle time, the delay between the last replica event the
watcher received and the settle barrier's release, the time spent waiting for Prometheus
after the window, and the step's overhead = wall time − (settle time + window).
Targets: barrier release within 10 ms of the last Ready event; overhead at most one scrape
interval + 100 ms.

    python benchmarks/step_timeline.py [--interval 5] [--scrape 0.5] [--rate 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

from faastrain_async import FaaSEnv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=5.0, help="window, s (default 5)")
    parser.add_argument("--scrape", type=float, default=0.5, help="Prometheus scrape interval, s (default 0.5)")
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second (default 20)")
    parser.add_argument("--function", default="matmul", help="matmul or sleep (default matmul)")
    args = parser.parse_args()
    env = FaaSEnv(
        "kubernetes", local_cluster=True, interval=args.interval, profile=f"constant:rate={args.rate:g}",
        kubernetes={"local_function_kind": args.function, "local_scrape_interval": args.scrape},
    )
    actions = [8, 5, 7, 3, 9, 2, 5, 6, 4, 10]  # deltas +3, 0, +2, -2, +4, -3, 0, +1, -1, +5
    rows = []
    try:
        env.reset(seed=0)
        for action in actions:
            started = time.time()
            _, _, _, _, info = env.step(action)
            wall = time.time() - started
            # Only steps whose barrier waited for an event have a release delay to measure.
            waited = info["t_last_event"] is not None and info["t_last_event"] >= info["t_action"]
            release = info["t_settled"] - info["t_last_event"] if waited else None
            overhead = wall - (info["settle_seconds"] + args.interval)
            rows.append((info["target"], info["settle_seconds"], release, info["metrics_delay_seconds"], overhead, wall))
    finally:
        env.close()
    print(f"{'step':>4} {'target':>6} {'settle s':>9} {'release ms':>11} {'prometheus wait ms':>19} {'overhead ms':>12} {'wall s':>7}")
    for i, (target, settle, release, wait, overhead, wall) in enumerate(rows, 1):
        rel = f"{release * 1000:11.2f}" if release is not None else f"{'-':>11}"
        print(f"{i:>4} {target:>6} {settle:9.3f} {rel} {wait * 1000:19.1f} {overhead * 1000:12.1f} {wall:7.2f}")
    releases = [r[2] for r in rows if r[2] is not None]
    overheads = [r[4] for r in rows]
    print()
    print(f"barrier release after the last event: max {max(releases) * 1000:.2f} ms, median {statistics.median(releases) * 1000:.2f} ms (target <= 10 ms)")
    print(f"overhead per step: max {max(overheads) * 1000:.0f} ms, median {statistics.median(overheads) * 1000:.0f} ms "
          f"(target <= scrape interval + 100 ms = {(args.scrape + 0.1) * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
