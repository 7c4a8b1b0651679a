"""``faastrain local up | status | down``: run the local cluster from a shell.

``up`` runs in the foreground until Ctrl-C (or SIGTERM), or with ``--detach`` in the
background; either way the cluster locks its state directory and records itself in
``<state-dir>/cluster.json``, which ``status`` and ``down`` read (see
:mod:`faastrain_async.local.statedir`). The state directory defaults to
``$XDG_STATE_HOME/faastrain/local`` (``~/.local/state/faastrain/local``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from faastrain_async.errors import ConfigError
from faastrain_async.local.errors import LocalClusterError
from faastrain_async.local.settings import KIND_DEFAULTS, ClusterSettings, FunctionSpec
from faastrain_async.local.statedir import (
    already_running,
    cluster_process,
    default_state_dir,
    locked,
    owned_processes,
    read_record,
    remove_record,
    resolve,
    running,
)

LOG_FILE = "cluster.log"
#: The function ``up`` serves when no --function is given.
DEFAULT_FUNCTION = FunctionSpec().kind
#: Seconds a starting cluster gets to stop after SIGTERM, and again after SIGKILL.
STOP_TIMEOUT = 30.0


def _pair(text: str | None, cast: type, flag: str) -> tuple[Any, Any] | None:
    if text is None:
        return None  # the kind's own
    low, _, high = text.partition(":")
    try:
        return cast(low), cast(high or low)
    except ValueError as exc:
        raise ConfigError(f"{flag}={text!r} is not valid: give LOW or LOW:HIGH ({cast.__name__}s)") from exc


def function_specs(args: argparse.Namespace) -> list[FunctionSpec]:
    """FunctionSpecs from ``--function [NAME=]KIND`` flags and the shared per-function flags."""
    common = {
        "replicas": args.replicas,
        "cold_start": args.cold_start,
        "matmul_size": _pair(args.matmul_size, int, "--matmul-size"),
        "sleep_seconds": _pair(args.sleep, float, "--sleep"),
        "max_inflight": args.max_inflight,
        "timeout": args.timeout,
        "cpu_request": args.cpu_request,
        "memory_request": args.memory_request,
    }
    specs = []
    for item in args.function or [DEFAULT_FUNCTION]:
        name, sep, kind = item.partition("=")
        if not sep:
            kind = name
            name = kind if ":" not in kind else kind.rpartition(":")[2].replace("_", "-").lower()
        specs.append(FunctionSpec(name=name, kind=kind, **common))
    return specs


def cluster_settings(args: argparse.Namespace) -> ClusterSettings:
    return ClusterSettings(
        state_dir=resolve(args.state_dir),
        api_port=args.api_port,
        gateway_port=args.gateway_port,
        prometheus_port=args.prometheus_port,
        prometheus=not args.no_prometheus,
        prometheus_binary=args.prometheus_binary,
        scrape_interval=args.scrape_interval,
        termination_grace=args.grace,
        start_timeout=args.start_timeout,
    )


def _print_endpoints(state: dict[str, Any]) -> None:
    print(f"kubeconfig:  {state['kubeconfig']}")
    print(f"api server:  {state['api_url']}")
    print(f"gateway:     {state['gateway_url']}")
    print(f"prometheus:  {state['prometheus_url'] or '(none: --no-prometheus)'}")
    print(f"functions:   {', '.join(state['functions'])}  (namespace openfaas-fn)")
    print(f"pid:         {state['pid']}   state: {state['state_dir']}")


# --- up ----------------------------------------------------------------------------------


async def _run_foreground(specs: list[FunctionSpec], settings: ClusterSettings) -> int:
    from faastrain_async.local.cluster import LocalCluster

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with LocalCluster(specs, settings) as cluster:
        assert cluster.record is not None  # started
        _print_endpoints(cluster.record)
        print("local cluster up; Ctrl-C (or `faastrain local down`) stops it", flush=True)
        await stop.wait()
    print("local cluster stopped", flush=True)
    return 0


def _detach(argv: list[str], state_dir: Path, timeout: float) -> int:
    log_path = state_dir / LOG_FILE
    with open(log_path, "ab") as output:
        child = subprocess.Popen(
            [sys.executable, "-m", "faastrain_async.cli.main", "--log-level", "info", "local", *argv],
            stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            state = read_record(state_dir)
            if state is not None and state["pid"] == child.pid:
                _print_endpoints(state)
                print(f"local cluster up in the background (log: {log_path}); `faastrain local down` stops it")
                return 0
            if child.poll() is not None:
                print(f"the local cluster failed to start (exit {child.returncode}); its log ends:", file=sys.stderr)
                print(log_path.read_text(errors="replace")[-3000:], file=sys.stderr)
                return 1
            time.sleep(0.2)
    except KeyboardInterrupt:
        _stop_child(child)  # interrupted while it starts: it is not left half up
        raise
    _stop_child(child)
    print(f"the local cluster did not come up within {timeout}s; stopped it (log: {log_path})", file=sys.stderr)
    return 1


def _stop_child(child: subprocess.Popen[bytes]) -> None:
    child.terminate()
    try:
        child.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait(STOP_TIMEOUT)


def _up_argv(args: argparse.Namespace, state_dir: Path) -> list[str]:
    """The flags of ``up`` (without --detach) that reproduce ``args`` in a child process."""
    argv = ["up", "--state-dir", str(state_dir)]
    for item in args.function or [DEFAULT_FUNCTION]:
        argv += ["--function", item]
    for flag in ("replicas", "cold_start", "matmul_size", "sleep", "max_inflight", "timeout", "cpu_request",
                 "memory_request", "api_port", "gateway_port", "prometheus_port", "scrape_interval", "grace", "start_timeout"):  # fmt: skip
        if getattr(args, flag) is not None:
            argv += ["--" + flag.replace("_", "-"), str(getattr(args, flag))]
    if args.prometheus_binary:
        argv += ["--prometheus-binary", args.prometheus_binary]
    if args.no_prometheus:
        argv.append("--no-prometheus")
    return argv


def cmd_up(args: argparse.Namespace) -> int:
    """Start the local cluster (foreground, or background with --detach)."""
    specs = function_specs(args)
    settings = cluster_settings(args)
    assert settings.state_dir is not None
    state_dir = Path(settings.state_dir)
    if state_dir.exists() and not state_dir.is_dir():
        raise ConfigError(f"--state-dir {str(state_dir)!r} is a file, not a folder")
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--state-dir {str(state_dir)!r} cannot be made: {e.strerror or e}") from None
    if locked(state_dir):
        raise LocalClusterError(already_running(state_dir))
    if args.detach:
        return _detach(_up_argv(args, state_dir), state_dir, args.start_timeout + 30)
    return asyncio.run(_run_foreground(specs, settings))


# --- status and down ---------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    """Show the recorded cluster, whether it runs, and its functions' replicas."""
    state_dir = resolve(args.state_dir)
    state = read_record(state_dir)
    if state is None:
        print(f"no local cluster recorded in {state_dir}")
        return 1
    if running(state_dir) is None:
        print(f"the local cluster recorded in {state_dir} (pid {state['pid']}) is not running")
        return 1
    _print_endpoints(state)
    try:
        with urllib.request.urlopen(f"{state['gateway_url']}/system/functions", timeout=5) as response:
            functions = json.loads(response.read())
    except (urllib.error.URLError, TimeoutError) as exc:
        print(f"the gateway does not answer: {exc}")
        return 1
    for function in functions:
        name, replicas, available = function["name"], function["replicas"], function["availableReplicas"]
        print(f"  {name:<20} replicas {replicas:>3}  available {available:>3}  invocations {function['invocationCount']}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    """Stop the recorded cluster: SIGTERM, SIGKILL after --timeout; nothing of it is left running.

    Only processes proven to be the cluster's are signalled (see statedir).
    """
    state_dir = resolve(args.state_dir)
    state = read_record(state_dir)
    if state is None:
        print(f"no local cluster recorded in {state_dir}; nothing to stop")
        return 0
    process = cluster_process(state)
    if process is None and locked(state_dir):
        # The lock is held, but not by the recorded process: another cluster is starting there.
        print(f"{state_dir} is locked by a cluster other than the recorded one (pid {state['pid']}); "
              "nothing stopped; try again once it is up", file=sys.stderr)  # fmt: skip
        return 1
    if process is None:
        print(f"the local cluster recorded in {state_dir} (pid {state['pid']}) is not running; looking for leftovers")
    else:
        process.terminate()
        try:
            process.wait(args.timeout)
        except psutil.TimeoutExpired:
            print(f"the cluster (pid {state['pid']}) did not stop within {args.timeout}s; killing it", file=sys.stderr)
            process.kill()
            process.wait(10)
    # Replicas and Prometheus die with the cluster process (PR_SET_PDEATHSIG); this sweep
    # only confirms it, and cleans up if that ever failed.
    leftovers = owned_processes(state["cluster_id"], started_after=state["pid_created"])
    for leftover in leftovers:
        with contextlib.suppress(psutil.NoSuchProcess):
            leftover.kill()
    psutil.wait_procs(leftovers, timeout=10)
    remove_record(state_dir, state["cluster_id"])
    print(f"local cluster stopped{f' ({len(leftovers)} leftover processes killed)' if leftovers else ''}")
    return 0


# --- argparse ----------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """Add ``local`` with ``up``, ``status`` and ``down`` to a CLI's sub-commands."""
    local = subparsers.add_parser("local", help="run a local Kubernetes + OpenFaaS + Prometheus stand-in")
    commands = local.add_subparsers(dest="local_command", required=True)
    defaults = ClusterSettings()
    spec = FunctionSpec()

    def with_state_dir(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("--state-dir", default=str(default_state_dir()), help="where the cluster keeps its kubeconfig, data and logs")
        return parser

    up = with_state_dir(commands.add_parser("up", help="start the local cluster"))
    up.add_argument("--function", action="append", metavar="[NAME=]KIND",
                    help=f"a function to serve (repeatable); KIND is api, matmul, sleep or module:function (default: {DEFAULT_FUNCTION})")
    up.add_argument("--replicas", type=int, default=spec.replicas, help="initial replicas of each function")
    up.add_argument("--cold-start", type=float, default=spec.cold_start, help="extra seconds a new replica stays not ready")
    kinds = KIND_DEFAULTS.items()
    up.add_argument("--matmul-size", help="matrix side of matmul and api, LOW[:HIGH] (default: "
                    + ", ".join("%s %d:%d" % (k, *d.matmul_size) for k, d in kinds if k != "sleep") + ")")
    up.add_argument("--sleep", help="wait of sleep and api in seconds, LOW[:HIGH] (default: "
                    + ", ".join("%s %g:%g" % (k, *d.sleep_seconds) for k, d in kinds if k != "matmul") + ")")
    up.add_argument("--max-inflight", type=int, help="concurrent calls per replica, 429 above (default: "
                    + ", ".join(f"{k} {d.max_inflight}" for k, d in kinds) + ")")
    up.add_argument("--timeout", type=float, default=spec.timeout, help="seconds a call may take (504 after)")
    up.add_argument("--cpu-request", default=spec.cpu_request, help="CPU request of each function's pods")
    up.add_argument("--memory-request", default=spec.memory_request, help="memory request of each function's pods")
    up.add_argument("--api-port", type=int, default=defaults.api_port, help="API server port (0: a free one)")
    up.add_argument("--gateway-port", type=int, default=defaults.gateway_port, help="gateway port (0: a free one)")
    up.add_argument("--prometheus-port", type=int, default=defaults.prometheus_port, help="Prometheus port (0: a free one)")
    up.add_argument("--scrape-interval", type=float, default=defaults.scrape_interval, help="seconds between scrapes of the gateway")
    up.add_argument("--prometheus-binary", default=None, help="path of the prometheus binary (default: found on PATH)")
    up.add_argument("--no-prometheus", action="store_true", help="run no Prometheus; scrape <gateway>/metrics yourself")
    up.add_argument("--grace", type=float, default=defaults.termination_grace, help="termination grace period of a replica (s)")
    up.add_argument("--start-timeout", type=float, default=defaults.start_timeout, help="seconds to wait for the cluster to come up")
    up.add_argument("--detach", action="store_true", help="run in the background and return once it is up")
    up.set_defaults(func=cmd_up)
    status = with_state_dir(commands.add_parser("status", help="show the running local cluster"))
    status.set_defaults(func=cmd_status)
    down = with_state_dir(commands.add_parser("down", help="stop the local cluster"))
    down.add_argument("--timeout", type=float, default=30.0, help="seconds to wait before killing it")
    down.set_defaults(func=cmd_down)
    return local
