"""``faastrain calibrate``: measure a live function as the simulator parameterises it.

    faastrain calibrate --local-cluster --out api.json       # the local cluster `local up` runs, or a private one
    faastrain calibrate --kube kubeconfig=k.yaml --kube prometheus_url=... --out api.json

It prints a line per measurement while it runs and writes one calibration file (see
docs/calibration.md); ``--quick`` is a short run (about two minutes on the local cluster).
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import time
from pathlib import Path
from typing import Any

from faastrain_async.backends.kubernetes import KubernetesSettings
from faastrain_async.calibration import write_calibration
from faastrain_async.calibration.plan import FULL, QUICK
from faastrain_async.cli.run import attach_local_cluster, key_values
from faastrain_async.config import dns_label
from faastrain_async.errors import ConfigError
from faastrain_async.outputs import output_file
from faastrain_async.local.settings import BUILTIN_KINDS


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("calibrate", help="measure a live function and write a calibration file for the simulator")
    parser.add_argument("--local-cluster", action="store_true",
                        help="the local cluster that `faastrain local up` runs, or a private one started for the run if none runs")
    parser.add_argument("--state-dir", help="with --local-cluster: the state directory of the running local cluster (default: local up's)")
    parser.add_argument("--kube", action="append", metavar="KEY=VALUE",
                        help="a kubernetes backend setting (a real cluster: kubeconfig=, prometheus_url=, gateway_url=, ...)")
    parser.add_argument("--function", default=KubernetesSettings().function, help="the function to calibrate (default: %(default)s)")
    parser.add_argument("--out", type=Path, required=True, help="the calibration file to write (JSON)")
    parser.add_argument("--quick", action="store_true",
                        help=f"a short run: {len(QUICK.replica_counts)} replica counts, {QUICK.scale_ups} scale-ups "
                        "(about 2 minutes on the local cluster; the full run takes about 15)")  # fmt: skip
    parser.set_defaults(func=run)


def settings_of(args: argparse.Namespace) -> tuple[KubernetesSettings, bool]:
    """The backend settings of the cluster the arguments name, and whether that is a local
    cluster already running."""
    options: dict[str, Any] = {"function": dns_label("function", args.function), **key_values(args.kube, "kube")}
    if args.state_dir is not None and not args.local_cluster:
        raise ConfigError("--state-dir names a running local cluster; it needs --local-cluster")
    attached = False
    if args.local_cluster:
        attached = attach_local_cluster(options, args.state_dir)
        if not attached:
            options["local_cluster"] = True
            if args.function in BUILTIN_KINDS:
                options.setdefault("local_function_kind", args.function)
    elif not args.kube:
        raise ConfigError("say where the function runs: --local-cluster, or --kube KEY=VALUE for a real cluster")
    return KubernetesSettings(**options), attached


def command_of(args: argparse.Namespace) -> str:
    """The command line that repeats this calibration."""
    argv = ["faastrain", "calibrate"]
    if args.local_cluster:
        argv.append("--local-cluster")
    if args.state_dir is not None:
        argv += ["--state-dir", args.state_dir]
    for pair in args.kube or []:
        argv += ["--kube", pair]
    argv += ["--function", args.function, "--out", str(args.out)] + (["--quick"] if args.quick else [])
    return shlex.join(argv)


def run(args: argparse.Namespace) -> int:
    if args.out.is_dir():
        raise ConfigError(f"--out {str(args.out)!r} is a directory; give a file name such as calibration.json")
    output_file(args.out)  # before an experiment of many minutes, not after
    settings, attached = settings_of(args)
    plan = QUICK if args.quick else FULL
    started = time.monotonic()

    def progress(line: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {line}", flush=True)

    from faastrain_async.calibration.run import calibrate  # the experiment's imports only when one runs

    progress(f"calibrating {args.function} ({plan.name} plan)")
    calibration = asyncio.run(
        calibrate(settings, plan, command=command_of(args), progress=progress, attached=attached)
    )
    write_calibration(args.out, calibration)
    for name, p in calibration.parameters.items():
        value = "null" if p.value is None else f"{p.value:.4g}" if isinstance(p.value, float) else str(p.value)
        spread = "" if p.spread is None else f" ± {p.spread:.2g}"
        print(f"  {name:<20} {value}{spread} {p.unit}")
    print(f"wrote {args.out}")
    return 0
