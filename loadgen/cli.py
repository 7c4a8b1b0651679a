"""``faastrain-loadgen``: periodic and trace-replay load at an exact request rate.

Validates its arguments (profile, trace file, URL reachability) before anything starts, then
runs the Locust program of :mod:`loadgen.locustfile` headless. Examples::

    faastrain-loadgen --url http://127.0.0.1:8080 --function echo \\
        --profile sine:period=600,low=2,high=40 --duration 1200
    faastrain-loadgen --url http://127.0.0.1:8080 --function echo \\
        --trace azure-functions-30s.json --interval 30 --scale 3 --compress 30
    faastrain-loadgen ... --workers 4                       # master + 4 local worker processes
    faastrain-loadgen ... --expect-workers 2 --master-bind-host 0.0.0.0   # remote workers join:
    faastrain-loadgen --worker --master-host 10.0.0.5

Statistics go to stdout as JSON lines (or to ``--stats FILE``); in a terminal stdout shows a
readable live view instead. A bad value exits with status 2 and one line naming it.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from loadgen.bounds import LOAD_BOUNDS
from loadgen.lifeline import orphaned
from loadgen.profiles import Profile, ProfileError, Trace, draw_profile
from loadgen.schedule import ARRIVAL_MODES

__all__ = ["main", "build_parser", "UsageError"]

PROG = "faastrain-loadgen"
DEFAULT_MASTER_PORT = 5557


class UsageError(Exception):
    """A command-line value is not valid; the message names it."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, so a caller (or a log) shows exactly what was wrong.
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser of ``faastrain-loadgen``."""
    p = _Parser(prog=PROG, description="Send requests at a workload profile's exact rate (Locust, headless).")
    target = p.add_argument_group("target")
    target.add_argument("--url", default="http://127.0.0.1:8080/", help="URL to request (default %(default)s)")
    target.add_argument("--function", metavar="NAME", help="OpenFaaS function: request <url>/function/NAME")
    target.add_argument("--method", default="POST", help="HTTP method (default %(default)s)")
    target.add_argument("--body", default="", help="request body (default empty)")
    target.add_argument("--timeout", type=float, default=10.0, help="seconds before a request fails (default 10)")
    target.add_argument("--expect-status", type=int, default=200, help="status of a success (default 200)")

    load = p.add_argument_group("load")
    which = load.add_mutually_exclusive_group()
    which.add_argument(
        "--profile", metavar="SPEC",
        help="profile spec, e.g. sine:period=600,low=2,high=40; ranges (period=300..900) are drawn from --seed",
    )
    which.add_argument("--trace", metavar="FILE", help="replay per-interval counts from a JSON or CSV file")
    load.add_argument("--interval", type=float, help="seconds per trace interval (default 30)")
    load.add_argument("--scale", type=float, help="multiply the trace counts (default 1)")
    load.add_argument("--compress", type=float, help="replay the trace C times faster (default 1)")
    load.add_argument("--loop", action="store_true", default=None, help="replay the trace again when it ends")
    load.add_argument("--duration", type=float, help="seconds to run (default: the profile's length, or forever)")
    load.add_argument(
        "--seed", type=int, default=0, help="seed of the arrival schedule and of a ranged profile's draw (default 0)"
    )
    load.add_argument("--arrivals", choices=ARRIVAL_MODES, default="poisson", help="arrival process (default poisson)")
    load.add_argument("--max-users", type=int, default=2000, help="upper bound on concurrent requests")

    out = p.add_argument_group("output")
    out.add_argument("--stats", metavar="FILE", help="write the JSON lines to FILE instead of stdout")
    view = out.add_mutually_exclusive_group()
    view.add_argument("--view", dest="view", action="store_true", default=None, help="readable live view")
    view.add_argument("--no-view", dest="view", action="store_false", help="JSON lines even in a terminal")
    out.add_argument(
        "--log-level",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        default="WARNING",
        help="Locust log level on stderr (default WARNING)",
    )

    dist = p.add_argument_group("distributed")
    dist.add_argument("--workers", type=int, default=0, help="run a master and N local worker processes")
    dist.add_argument("--expect-workers", type=int, default=0, help="run a master that waits for N remote workers")
    dist.add_argument("--master-bind-host", default="127.0.0.1", help="interface the master listens on")
    dist.add_argument("--master-port", type=int, default=None, help=f"master port (default {DEFAULT_MASTER_PORT})")
    dist.add_argument("--worker", action="store_true", help="run as a worker of a master")
    dist.add_argument("--master-host", default="127.0.0.1", help="the master a worker joins")
    p.add_argument(
        "--parent-pid", type=int, metavar="PID",
        help="exit when process PID, which started this generator, ends (for programs that run it as a child)",
    )  # fmt: skip
    return p


_TRACE_DEFAULTS = {"interval": 30.0, "scale": 1.0, "compress": 1.0, "loop": False}


def _profile(args: argparse.Namespace) -> Profile:
    given = [name for name in _TRACE_DEFAULTS if getattr(args, name) is not None]
    if args.trace is None and given:
        raise UsageError(f"--{given[0]} applies to --trace only (a --profile spec takes its own options)")
    for name, default in _TRACE_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.trace is not None:
        if not Path(args.trace).is_file():
            raise UsageError(f"--trace: file not found: {args.trace!r}")
        try:
            return Trace.from_file(
                args.trace, interval=args.interval, scale=args.scale, compress=args.compress, loop=args.loop
            )
        except ProfileError as e:
            raise UsageError(f"--trace {args.trace!r}: {e}") from None
    try:
        return draw_profile(args.profile, args.seed)  # a ranged spec: the profile this seed draws
    except ProfileError as e:
        raise UsageError(f"--profile: {e}") from None


def _split_url(url: str, function: str | None) -> tuple[str, str, str, int]:
    try:
        parts = urlsplit(url)
    except ValueError as e:  # an unbalanced '[' of an IPv6 address, ...
        raise UsageError(f"--url {url!r} is not a valid URL: {e}") from None
    if any(not c.isprintable() or c.isspace() for c in url):
        raise UsageError(f"--url {url!r} must not contain spaces or control characters")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--url {url!r} must be an http:// or https:// URL with a host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UsageError(f"--url {url!r} has a bad port") from None
    path = parts.path or "/"
    if function is not None:
        if not function or "/" in function:
            raise UsageError(f"--function {function!r} must be a function name without '/'")
        path = path.rstrip("/") + f"/function/{function}"
    if parts.query:
        path += f"?{parts.query}"
    return f"{parts.scheme}://{parts.netloc}", path, parts.hostname, port


def _check_reachable(url: str, host: str, port: int, timeout: float) -> None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as e:
        reason = e.strerror or str(e) or type(e).__name__
        raise UsageError(f"--url {url!r} is unreachable: cannot connect to {host}:{port} ({reason})") from None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _check_bound(flag: str, value: object, bound: str) -> None:
    problem = LOAD_BOUNDS[bound].problem(flag, value)
    if problem is not None:
        raise UsageError(problem)


def _check_stats_file(path: str) -> None:
    """Refuse a --stats file that cannot be written, before anything starts."""
    target = Path(path)
    parent = target.parent
    if target.is_dir():
        raise UsageError(f"--stats {path!r} is a directory, not a file")
    if not parent.is_dir():
        raise UsageError(f"--stats {path!r}: its directory {str(parent)!r} does not exist")
    if not os.access(target if target.exists() else parent, os.W_OK):
        raise UsageError(f"--stats {path!r} cannot be written (permission denied)")


def _check(args: argparse.Namespace) -> None:
    _check_bound("--timeout", args.timeout, "timeout")
    if args.duration is not None:
        _check_bound("--duration", args.duration, "duration")
    if args.seed < 0:
        raise UsageError(f"--seed must be an integer >= 0, got {args.seed!r}")
    _check_bound("--workers", args.workers, "workers")
    _check_bound("--expect-workers", args.expect_workers, "workers")
    _check_bound("--max-users", args.max_users, "max_users")
    if args.stats is not None:
        _check_stats_file(args.stats)
    if args.workers and args.expect_workers:
        raise UsageError("--workers (local processes) and --expect-workers (remote ones) exclude each other")
    if not args.method.isalpha():
        raise UsageError(f"--method {args.method!r} must be an HTTP method such as POST or GET")
    if not 100 <= args.expect_status <= 599:
        raise UsageError(f"--expect-status must be an HTTP status 100..599, got {args.expect_status!r}")
    if args.profile is None and args.trace is None:
        raise UsageError("give a workload: --profile SPEC (e.g. constant:rate=10) or --trace FILE")
    if args.trace is not None and ("," in args.trace or "|" in args.trace):
        # The path travels inside a profile spec, whose parts are separated by commas ('|' separates choices).
        raise UsageError(f"--trace {args.trace!r}: a trace path must not contain ',' or '|'")
    if args.parent_pid is not None and orphaned(args.parent_pid):
        raise UsageError(f"--parent-pid {args.parent_pid} is not the parent of this process (its parent is {os.getppid()}): has it ended?")


def locust_arguments(argv: Sequence[str] | None = None) -> list[str]:
    """Validate a ``faastrain-loadgen`` command line and translate it for Locust.

    Raises :class:`UsageError` naming the bad value; checks that the URL accepts connections.
    """
    args = build_parser().parse_args(argv)
    locustfile = str(Path(__file__).with_name("locustfile.py"))
    common = ["-f", locustfile, "--loglevel", args.log_level, "--exit-code-on-error", "0"]
    if args.worker:
        port = args.master_port or DEFAULT_MASTER_PORT
        return [*common, "--worker", "--master-host", args.master_host, "--master-port", str(port)]
    _check(args)
    profile = _profile(args)
    host, path, hostname, port = _split_url(args.url, args.function)
    _check_reachable(args.url, hostname, port, timeout=min(args.timeout, 5.0))
    spec = profile.spec if args.trace is None else (
        f"trace:path={args.trace},interval={args.interval:g},scale={args.scale:g},"
        f"compress={args.compress:g},loop={int(args.loop)}"
    )
    # In a terminal stdout shows the readable view (the JSON lines go to --stats, if given).
    view = sys.stdout.isatty() if args.view is None else args.view
    out = [
        *common,
        "--headless",
        "--only-summary",
        # name=value, so that a value starting with '-' is not taken for an option
        f"--host={host}",
        f"--rate-profile={spec}",
        f"--schedule-seed={args.seed}",
        f"--arrivals={args.arrivals}",
        f"--run-seconds={args.duration or 0}",
        f"--request-path={path}",
        f"--request-method={args.method.upper()}",
        f"--request-body={args.body}",
        f"--request-timeout={args.timeout}",
        f"--expect-status={args.expect_status}",
        f"--max-users={args.max_users}",
        f"--stats-file={args.stats or '-'}",
    ]
    if view:
        out.append("--live-view")
    if args.parent_pid is not None:
        out.append(f"--parent-pid={args.parent_pid}")
    if args.workers:
        master_port = args.master_port or _free_port()
        out += ["--processes", str(args.workers), "--master-bind-host", "127.0.0.1"]
        out += ["--master-bind-port", str(master_port), "--master-port", str(master_port)]
        out += ["--expect-workers-max-wait", "30"]
    elif args.expect_workers:
        out += ["--master", "--expect-workers", str(args.expect_workers)]
        out += ["--master-bind-host", args.master_bind_host]
        out += ["--master-bind-port", str(args.master_port or DEFAULT_MASTER_PORT)]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``faastrain-loadgen``; returns (or exits with) the process status."""
    try:
        arguments = locust_arguments(argv)
    except UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    # Locust (and its gevent monkey-patching) is imported only now, in this process alone.
    from locust import main as locust_main

    sys.argv = ["locust", *arguments]
    locust_main.main()
    return 0
