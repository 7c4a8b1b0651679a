"""``faastrain``: run policies in the environment, and start the local cluster."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from faastrain_async.cli import run
from faastrain_async.cli.interrupts import raising_interrupts, signal_of
from faastrain_async.cli.logs import LEVELS, configure_logging
from faastrain_async.errors import FaaSTrainError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faastrain",
        description="Train and evaluate RL autoscalers of serverless functions.",
    )
    parser.add_argument("--log-json", action="store_true", help="write logs as JSON lines (stderr)")
    parser.add_argument("--log-level", choices=LEVELS, default="warning", help="lowest log level shown (default: warning)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run.register(commands)
    for module in ("local", "evaluate", "train", "export"):
        try:
            extension = __import__(f"faastrain_async.cli.{module}", fromlist=["register"])
        except ModuleNotFoundError as e:
            if e.name != f"faastrain_async.cli.{module}":
                raise
            continue
        extension.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(json=args.log_json, level=args.log_level)
    try:
        with raising_interrupts():
            return int(args.func(args) or 0)
    except FaaSTrainError as e:
        print(f"faastrain: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        signum = signal_of(e)
        print(f"faastrain: interrupted ({signum.name})", file=sys.stderr)
        return 128 + signum


if __name__ == "__main__":
    sys.exit(main())
