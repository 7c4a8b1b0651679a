"""The library's loggers: structlog events handed to the standard ``logging`` module.

Every logger is a child of the ``faastrain`` logger, which has only a ``NullHandler``: the
library prints nothing until the application configures logging. The command line does
(``faastrain_async.cli.logs``); another program can attach a handler to ``faastrain`` (a
``structlog.stdlib.ProcessorFormatter`` renders the events as structlog would), or call
``logging.basicConfig(level=logging.INFO)`` to see them as plain dicts.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

ROOT = "faastrain"

logging.getLogger(ROOT).addHandler(logging.NullHandler())

_PROCESSORS = [
    structlog.stdlib.filter_by_level,  # below the logger's level: dropped before any work
    structlog.stdlib.add_log_level,
    structlog.stdlib.ProcessorFormatter.wrap_for_formatter,  # the event dict is the record's message
]


def get_logger(module: str) -> Any:
    """A structlog logger writing to the standard logger ``faastrain.<module>``.

    Call it as ``log = get_logger(__name__)`` (``faastrain_async.engine.engine`` logs as
    ``faastrain.engine.engine``); bind context with ``log.bind(...)``.
    """
    name = f"{ROOT}.{module.removeprefix('faastrain_async.')}"
    return structlog.wrap_logger(
        logging.getLogger(name),
        processors=_PROCESSORS,
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
