"""``faastrain``: run policies in the environment, and start the local cluster."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from faastrain_async.cli import run
from faastrain_async.cli.interrupts import raising_interrupts, signal_of
from faastrain_async.cli.logs import LEVELS, configure_logging
from faastrain_async.errors import FaaSTrainError


class HelpFormatter(argparse.HelpFormatter):
    """Ends every option's help with its default (none for a flag, or where there is none)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        none = default is None or default is False or default == [] or default == argparse.SUPPRESS
        if not action.option_strings or none or "(default" in text:  # "(default": told by hand, it depends on others
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default)
        return f"{text} (default: {shown.replace('%', '%%')})".lstrip()


class Parser(argparse.ArgumentParser):
    """An argument parser whose help shows defaults; sub-command parsers are of this class too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        # One line, as every other error of the command line (the usage is in --help).
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="faastrain",
        description="Train and evaluate RL autoscalers of serverless functions.",
    )
    parser.add_argument("--log-json", action="store_true", help="write logs as JSON lines (stderr)")
    parser.add_argument("--log-level", choices=LEVELS, default="warning", help="lowest log level shown")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run.register(commands)
    for module in ("local", "evaluate", "bench", "train", "export", "calibrate"):
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
