"""Log output for the command line: a handler on the library's ``faastrain`` logger.

The library logs through the standard ``logging`` module and prints nothing by itself
(``faastrain_async.logger``); the command line is the application, so it shows the lines.
"""

from __future__ import annotations

import logging
import sys

import structlog

from faastrain_async.logger import ROOT

LEVELS = ("debug", "info", "warning", "error")


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is when a line is written (a test may swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _CommandLineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The one handler the command line attaches (a second configure replaces it)."""


def configure_logging(*, json: bool = False, level: str = "info") -> None:
    """Readable lines on a terminal, JSON lines with ``json``; logs go to stderr."""
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    handler = _CommandLineHandler(_CurrentStderr())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                *([structlog.processors.format_exc_info] if json else []),
                renderer,
            ],
        )
    )
    logger = logging.getLogger(ROOT)
    for old in [h for h in logger.handlers if isinstance(h, _CommandLineHandler)]:
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(getattr(logging, level.upper()))
