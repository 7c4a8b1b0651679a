"""``faastrain evaluate``: several policies on the same seeded episodes; table, CSV, JSON, PNG."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from faastrain_async.cli.run import add_env_arguments, env_keywords, make_env, make_vector_env, policy_names
from faastrain_async.config import env_settings
from faastrain_async.errors import ConfigError
from faastrain_async.evaluation import evaluate, split_policies
from faastrain_async.evaluation.harness import SLO
from faastrain_async.evaluation.report import Progress, table, write
from faastrain_async.outputs import output_folder, writing


def parse_seeds(texts: list[str]) -> list[int]:
    """``["0", "1,2", "5-7"]`` as ``[0, 1, 2, 5, 6, 7]``."""
    seeds: list[int] = []
    for text in texts:
        for part in filter(None, (p.strip() for p in text.split(","))):
            low, dash, high = part.partition("-")
            try:
                seeds += list(range(int(low), int(high) + 1)) if dash else [int(part)]
            except ValueError:
                raise ConfigError(f"--seeds {part!r}: expected an integer >= 0 or a range like 0-4") from None
    if not seeds:
        raise ConfigError("--seeds: give at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {seeds}: a seed is listed twice")
    return seeds


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "evaluate",
        help="compare policies on the same seeded workloads",
        description=(
            "Run each policy on the same seeded episodes; print a table of mean ± 95% CI and write "
            "episodes.csv, summary.csv, steps.csv, results.json, timeline.png and aggregates.png."
        ),
    )
    parser.add_argument(
        "--policies", action="append", default=[], metavar="SPECS",
        help="policies separated by ',' or ';' (an option key=value after a ',' belongs to the policy before it), "
        f"e.g. hpa:target=0.6,tolerance=0.05,kpa,static:4,model:PATH; the policies: {policy_names()}",
    )  # fmt: skip
    parser.add_argument(
        "--policy", action="append", default=[], metavar="SPEC",
        help=f"one policy spec NAME[:key=value,...], taken as is (repeatable); NAME is one of {policy_names()}",
    )  # fmt: skip
    parser.add_argument("--episodes", type=int, default=5, help="episodes per seed")
    parser.add_argument("--seeds", nargs="+", default=["0"], help="seeds, e.g. 0 1 2 or 0,1,2 or 0-4")
    parser.add_argument("--out", type=Path, default=Path("runs/evaluate"), help="output folder")
    parser.add_argument("--slo-p95", type=float, default=None, help="p95 execution-time objective, s (default: the reward's slo_seconds, 1)")
    parser.add_argument("--slo-throughput", type=float, default=99.0, help="throughput objective, %%")
    parser.add_argument("--no-plots", action="store_true", help="write no PNG")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    add_env_arguments(parser)
    parser.set_defaults(func=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    specs = (split_policies(args.policies) if args.policies else []) + [p.strip() for p in args.policy]
    if not specs:
        raise ConfigError("no policy given: --policies hpa,kpa,static:4 (or --policy SPEC, repeatable)")
    seeds = parse_seeds(args.seeds)
    settings = env_settings(**env_keywords(args))
    # The SLO's latency objective defaults to the reward's.
    p95 = args.slo_p95 if args.slo_p95 is not None else settings.reward.slo_seconds
    slo = SLO(p95_seconds=p95, throughput_pct=args.slo_throughput)
    output_folder(args.out)  # a folder that takes no files fails now, not after the evaluation
    started = time.perf_counter()
    # On the simulator, each policy's episodes run at once on the vector simulator.
    vector = (lambda n: make_vector_env(args, n)) if args.backend == "sim" else None
    result = evaluate(
        specs, lambda: make_env(args), seeds=seeds, episodes=args.episodes, slo=slo,
        progress=Progress(enabled=not args.quiet), make_vector_env=vector,
    )  # fmt: skip
    config = {
        "policies": specs, "seeds": seeds, "episodes": args.episodes, "backend": args.backend, "preset": args.preset,
        **dataclasses.asdict(settings), "sim": args.sim or [], "calibration": args.calibration,
    }  # fmt: skip
    with writing(args.out):
        paths = write(result, args.out, config)
        if not args.no_plots:
            from faastrain_async.evaluation.plots import write_plots

            paths += write_plots(result, args.out)
    print(table(result))
    print(f"wrote {', '.join(str(p) for p in paths)} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return 0
