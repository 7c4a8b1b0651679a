"""SIGINT and SIGTERM as an exception, so a command can close its env and keep its results.

Inside :func:`raising_interrupts` the first SIGINT or SIGTERM raises :class:`Interrupted`
(a KeyboardInterrupt, so whatever handles Ctrl-C handles both) in the main thread; the
command closes what it opened and writes what it has, and ``faastrain`` exits with
128 + the signal's number (130, 143). A second signal takes the default action and ends the
process at once: the processes it started end with it (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: The signal the current (or last) raising_interrupts turned into an exception, if any.
_received: list[signal.Signals] = []
#: Open held_interrupts blocks, and the signal that arrived inside one, to raise at its end.
_holding: list[None] = []
_held: list[signal.Signals] = []


class Interrupted(KeyboardInterrupt):
    """A SIGINT or SIGTERM arrived."""

    def __init__(self, signum: int) -> None:
        self.signum = signal.Signals(signum)
        super().__init__(self.signum.name)


def signal_of(interrupt: KeyboardInterrupt) -> signal.Signals:
    """The signal behind ``interrupt``: a plain KeyboardInterrupt is the signal raising_interrupts
    received (a library may raise its own for it: Ray does when one arrives in a blocking call),
    else SIGINT."""
    if isinstance(interrupt, Interrupted):
        return interrupt.signum
    return _received[-1] if _received else signal.SIGINT


@contextlib.contextmanager
def raising_interrupts() -> Iterator[None]:
    """SIGINT and SIGTERM raise Interrupted once while inside; the old handlers come back after."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set signal handlers
        return
    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}

    def interrupt(signum: int, frame: FrameType | None) -> None:
        for other in SIGNALS:
            signal.signal(other, signal.SIG_DFL)
        _received.append(signal.Signals(signum))
        if _holding:
            _held.append(signal.Signals(signum))
            return
        raise Interrupted(signum)

    _received.clear()
    _held.clear()
    for signum in SIGNALS:
        signal.signal(signum, interrupt)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def held_interrupts() -> Iterator[None]:
    """An interrupt arriving inside the block is raised when the block ends: for steps that must
    happen together (a row written and counted), so an interrupt never falls between them."""
    _holding.append(None)
    try:
        yield
    finally:
        _holding.pop()
    if _held and not _holding:
        raise Interrupted(_held.pop())
