"""``faastrain bench``: a named benchmark suite for any policies; leaderboard, CSV, JSON, PNG."""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path
from typing import Any

from faastrain_async.cli.run import add_env_arguments, make_env, make_vector_env, policy_names
from faastrain_async.errors import ConfigError
from faastrain_async.evaluation.bench import SUITES, run_bench, suite_named
from faastrain_async.evaluation.leaderboard import text

QUICK = "faastrain-v1-quick"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "bench",
        help="rank policies on a named benchmark suite (scenarios x held-out seeds)",
        description=(
            "Run HPA, the policies given and every static count on each scenario of a suite, on the same seeded "
            "episodes; print a leaderboard (mean ± 95% CI of the total reward per episode, and a normalised "
            "score: 0 = HPA or --reference, 1 = the best static count in hindsight) and write episodes.csv (as each policy "
            "finishes), leaderboard.txt, leaderboard.csv, results.json, scores.png and rewards.png. "
            f"Suites: {', '.join(f'{n} ({s.description})' for n, s in SUITES.items())}."
        ),
    )
    parser.add_argument("--suite", default="faastrain-v1", help=f"the suite: {', '.join(SUITES)}")
    parser.add_argument("--quick", action="store_true", help=f"the CI suite, {QUICK} (under a minute)")
    parser.add_argument(
        "--policy", action="append", default=[], metavar="SPEC",
        help=f"a policy to rank (repeatable): NAME[:key=value,...] with NAME one of {policy_names()}; "
        "model:PATH (a faastrain train model); py:module:Class or module:Class (your own class)",
    )  # fmt: skip
    parser.add_argument("--reference", default="hpa", metavar="SPEC", help="the policy whose score is 0")
    parser.add_argument("--scenario", action="append", default=[], metavar="NAME", help="run only this scenario of the suite (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench"), help="output folder")
    parser.add_argument("--no-plots", action="store_true", help="write no PNG")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    add_env_arguments(parser)
    parser.set_defaults(func=run_bench_command)


def _progress(quiet: bool) -> Any:
    def show(scenario: str, policy: str, episodes: int, seconds: float) -> None:
        if not quiet:
            print(f"bench: {scenario:<8} {policy:<28} {episodes} episodes in {seconds:.1f}s", file=sys.stderr, flush=True)

    return show


def run_bench_command(args: argparse.Namespace) -> int:
    if args.quick and args.suite not in ("faastrain-v1", QUICK):
        raise ConfigError(f"--quick runs {QUICK}; it cannot be combined with --suite {args.suite}")
    suite = suite_named(QUICK if args.quick else args.suite)
    if args.scenario:
        suite = suite.select(args.scenario)
    for name in ("profile", "episode_steps"):
        if getattr(args, name) is not None:
            raise ConfigError(f"--{name.replace('_', '-')}: the suite's scenarios set it; choose scenarios with --scenario")

    def scenario_args(overrides: dict[str, Any]) -> argparse.Namespace:
        given = copy.copy(args)
        for key, value in overrides.items():
            setattr(given, key, value)
        return given

    vector = (lambda o, n: make_vector_env(scenario_args(o), n)) if args.backend == "sim" else None
    config = {"backend": args.backend, "preset": args.preset, "sim": args.sim or [], "calibration": args.calibration}
    started = time.perf_counter()
    result = run_bench(
        suite, args.policy, lambda o: make_env(scenario_args(o)), out=args.out, make_vector_env=vector,
        progress=_progress(args.quiet), config=config, plots=not args.no_plots, reference=args.reference,
    )  # fmt: skip
    print(text(result))
    print(f"wrote {args.out}/: episodes.csv, leaderboard.txt, leaderboard.csv, results.json"
          f"{'' if args.no_plots else ', scores.png, rewards.png'} in {time.perf_counter() - started:.1f}s", file=sys.stderr)  # fmt: skip
    return 0
