"""The load generator as an asyncio client: a ``python -m loadgen`` subprocess.

Locust monkey-patches the interpreter with gevent when imported, which hangs asyncio, so it
runs only in its own process; this module must never import locust or gevent. It starts the
generator, reads its per-second JSON lines as typed events, reports intended and achieved
rates over a window, and stops it: SIGTERM to its process group, then SIGKILL after a
timeout, so worker processes go too. It never outlives this process: the kernel kills it
when this process ends (PR_SET_PDEATHSIG), even by SIGKILL, and it and its local workers
check their parents (``--parent-pid``).

    async with LoadGenerator(LoadGenSettings(url="http://127.0.0.1:8080/function/echo",
                                             profile="sine:period=600,low=2,high=40")) as load:
        ...
        report = load.report(start, end)   # LoadReport(intended_rps, achieved_rps)

:class:`LoadGenerator` implements the ``LoadDriver`` port of the backends.
"""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import sys
from dataclasses import dataclass
from urllib.parse import urlsplit

from faastrain_async.config import bounded, check, http_method, int_at_least, one_of, positive
from faastrain_async.errors import ConfigError, LoadGeneratorError
from faastrain_async.events import LoadReport
from loadgen.lifeline import die_with_parent
from faastrain_async.logger import get_logger
from loadgen.lines import LoadEnded, LoadEvent, LoadSecond, LoadStarted, parse_line
from loadgen.profiles import ProfileError, parse_workload
from loadgen.schedule import ARRIVAL_MODES

__all__ = [
    "LoadEnded",
    "LoadEvent",
    "LoadGenSettings",
    "LoadGenerator",
    "LoadSecond",
    "LoadStarted",
    "parse_event",
]

log = get_logger(__name__)

_STDERR_LINES = 40  # kept to explain a failure


@dataclass(frozen=True)
class LoadGenSettings:
    """How to run the load generator. Checked when built; a bad value raises ConfigError."""

    #: The URL every request goes to, e.g. ``http://127.0.0.1:8080/function/echo``.
    url: str
    #: Workload profile spec (see ``loadgen.profiles``), e.g. ``sine:period=600,low=2,high=40``
    #: or ``trace:path=FILE,interval=30,scale=1,compress=1,loop=1``; a ranged spec is drawn from ``seed``.
    profile: str = "sine:period=600,low=2,high=40"
    #: Seconds to run; None runs for the profile's length (forever for a periodic one).
    duration: float | None = None
    #: Seed of the arrival schedule (the same seed sends at the same times) and of a ranged profile.
    seed: int = 0
    #: ``poisson`` (independent clients) or ``even`` (evenly spaced, exact per-second counts).
    arrivals: str = "poisson"
    #: Seconds before a request counts as failed (kind ``timeout``).
    timeout: float = 10.0
    method: str = "POST"
    body: str = ""
    #: The status of a successful request; any other is a failure of kind ``status_<code>``.
    expect_status: int = 200
    #: Local worker processes (0: one process does everything).
    workers: int = 0
    #: Seconds to wait for the generator to start (its first line).
    start_timeout: float = 30.0
    #: Seconds between SIGTERM and SIGKILL when stopping.
    stop_timeout: float = 10.0
    #: Per-second lines kept for :meth:`LoadGenerator.report`.
    history: int = 86400

    def __post_init__(self) -> None:
        try:
            parts = urlsplit(self.url) if isinstance(self.url, str) else None
        except ValueError:  # an unbalanced '[' of an IPv6 address, ...
            parts = None
        check(parts is not None and parts.scheme in ("http", "https") and bool(parts.hostname), "url", self.url,
              "must be an http:// or https:// URL with a host")
        try:
            parse_workload(self.profile)
        except ProfileError as e:
            raise ConfigError(f"profile={self.profile!r} is not valid: {e}") from None
        if self.duration is not None:
            bounded("duration", self.duration, "load_duration")
        int_at_least("seed", self.seed, 0)
        one_of("arrivals", self.arrivals, ARRIVAL_MODES)
        bounded("timeout", self.timeout, "load_timeout")
        for name in ("start_timeout", "stop_timeout"):
            positive(name, getattr(self, name))
        http_method("method", self.method)
        check(isinstance(self.body, str), "body", self.body, "must be a string")
        check(isinstance(self.expect_status, int) and 100 <= self.expect_status <= 599, "expect_status", self.expect_status,
              "must be an HTTP status in 100..599")
        bounded("workers", self.workers, "load_workers")
        int_at_least("history", self.history, 1)

    def command(self, python: str = sys.executable) -> list[str]:
        """The command line that runs this generator, JSON lines on stdout."""
        cmd = [python, "-m", "loadgen", "--url", self.url, "--profile", self.profile, "--no-view"]
        cmd += ["--seed", str(self.seed), "--arrivals", self.arrivals, "--timeout", f"{self.timeout:g}"]
        cmd += ["--method", self.method, "--body", self.body, "--expect-status", str(self.expect_status)]
        if self.duration is not None:
            cmd += ["--duration", f"{self.duration:g}"]
        if self.workers:
            cmd += ["--workers", str(self.workers)]
        return cmd


def parse_event(line: str | bytes) -> LoadEvent:
    """One JSON line of the generator as its typed event; LoadGeneratorError if malformed."""
    try:
        return parse_line(line)
    except ValueError as e:
        raise LoadGeneratorError(str(e)) from None


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


class LoadGenerator:
    """Runs ``python -m loadgen`` and follows its statistics.

    ``start()`` returns once the generator has started its run; ``watch()`` waits (until
    cancelled) and raises :class:`LoadGeneratorError` as soon as the process dies;
    ``report(start, end)`` summarises the per-second lines of a window; ``stop()`` ends it.
    ``latest``, ``achieved_rps`` and ``seconds`` show what has been read so far.
    """

    def __init__(self, settings: LoadGenSettings, *, python: str = sys.executable) -> None:
        self.settings = settings
        self.started: LoadStarted | None = None
        self.ended: LoadEnded | None = None
        self._python = python
        self._proc: asyncio.subprocess.Process | None = None
        self._seconds: collections.deque[LoadSecond] = collections.deque(maxlen=settings.history)
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        self._tasks: list[asyncio.Task[None]] = []
        self._started = asyncio.Event()
        self._new_second = asyncio.Event()
        self._stopping = False
        self._group_gone = False
        self._exited = asyncio.Event()
        self._pidfd: int | None = None

    # -- what has been read ---------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """Process id of the generator (its process group id too), once started."""
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        """Exit status once the process has ended (negative: killed by that signal)."""
        return self._proc.returncode if self._proc is not None else None

    @property
    def latest(self) -> LoadSecond | None:
        """The most recent per-second line, if any."""
        return self._seconds[-1] if self._seconds else None

    @property
    def achieved_rps(self) -> float | None:
        """Requests sent in the most recent reported second, if any."""
        latest = self.latest
        return float(latest.achieved_rps) if latest is not None else None

    @property
    def seconds(self) -> tuple[LoadSecond, ...]:
        """The per-second lines kept so far, oldest first."""
        return tuple(self._seconds)

    def report(self, start: float, end: float) -> LoadReport:
        """Mean intended and achieved rate over the seconds of ``[start, end]`` (unix time).

        A second ``[t, t + 1)`` belongs to the window when its middle does. Lines arrive about
        1.5 s after their second ends. Raises LoadGeneratorError when none is available.
        """
        if not end >= start:
            raise ConfigError(f"report window [{start!r}, {end!r}] is not valid: end must be >= start")
        inside = [s for s in self._seconds if start <= s.t + 0.5 <= end]
        if not inside:
            have = f"{self._seconds[0].t}..{self._seconds[-1].t}" if self._seconds else "none"
            raise LoadGeneratorError(f"no load statistics for [{start:.3f}, {end:.3f}]; seconds read: {have}")
        n = len(inside)
        return LoadReport(
            intended_rps=sum(s.target_rps for s in inside) / n,
            achieved_rps=sum(s.achieved_rps for s in inside) / n,
        )

    async def next_second(self, timeout: float) -> LoadSecond:
        """Wait up to ``timeout`` s for the next per-second line; LoadGeneratorError if none."""
        self._new_second.clear()
        waiter = asyncio.ensure_future(self._new_second.wait())
        died = asyncio.ensure_future(self._wait_exit())
        try:
            done, _ = await asyncio.wait({waiter, died}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for f in (waiter, died):
                f.cancel()
        if waiter in done and self.latest is not None:
            return self.latest
        if died in done:
            raise self._died_error()
        raise LoadGeneratorError(f"no statistics line from the load generator within {timeout:g} s")

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the generator and wait until it has started its run (idempotent).

        Raises LoadGeneratorError when it exits first (the message carries its last error
        line, e.g. an unreachable URL) or does not start within ``start_timeout``.
        """
        if self._proc is not None:
            return
        # It must end with this process however this one ends (a generator left behind keeps
        # loading the function): the kernel kills it when we end, and it and its workers
        # also watch their parents.
        cmd = [*self.settings.command(self._python), "--parent-pid", str(os.getpid())]
        # A session of its own: stop() signals the whole group, local workers included.
        self._proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        log.info("loadgen.spawned", pid=self._proc.pid, profile=self.settings.profile, url=self.settings.url)
        self._tasks = [
            asyncio.create_task(self._read_stdout(), name="loadgen-stdout"),
            asyncio.create_task(self._read_stderr(), name="loadgen-stderr"),
        ]
        self._follow_exit()
        started = asyncio.ensure_future(self._started.wait())
        exited = asyncio.ensure_future(self._exited.wait())
        try:
            done, _ = await asyncio.wait(
                {started, exited}, timeout=self.settings.start_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            started.cancel()
            exited.cancel()
        if self._started.is_set():
            log.info("loadgen.started", pid=self._proc.pid, t0=self.started.t0 if self.started else None)
            return
        if exited in done:
            await self._reap()
            error = self._died_error()
        else:
            error = LoadGeneratorError(
                f"load generator did not start within {self.settings.start_timeout:g} s{self._stderr_tail()}"
            )
        await self.stop()
        raise error

    async def watch(self) -> None:
        """Wait until cancelled; raise LoadGeneratorError as soon as the generator dies.

        Returns normally when a finite run has ended by itself (exit status 0 after its last
        line), and at once after :meth:`stop`.
        """
        if self._proc is None:
            raise LoadGeneratorError("the load generator was not started; call start() first")
        await self._wait_exit()
        if self._stopping:
            return
        await self._reap()
        if self._proc.returncode == 0 and self.ended is not None:
            log.info("loadgen.finished", pid=self._proc.pid, sent=self.ended.sent, failed=self.ended.failed)
            return
        error = self._died_error()
        log.error("loadgen.died", pid=self._proc.pid, returncode=self._proc.returncode, error=str(error))
        raise error

    async def stop(self) -> None:
        """Stop the generator (SIGTERM, then SIGKILL after ``stop_timeout``); idempotent."""
        self._stopping = True
        proc = self._proc
        if proc is not None and proc.returncode is None:
            self._kill_group(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self.settings.stop_timeout)
            except TimeoutError:
                log.warning("loadgen.kill", pid=proc.pid, after_s=self.settings.stop_timeout)
                self._kill_group(signal.SIGKILL)
                await asyncio.wait_for(proc.wait(), 5.0)
        if proc is not None:
            self._kill_group(signal.SIGKILL)  # anything of its group still alive
            await self._drain_output()
            self._close_pidfd()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)
        if proc is not None:
            log.info("loadgen.stopped", pid=proc.pid, returncode=proc.returncode)

    async def __aenter__(self) -> LoadGenerator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- internals --------------------------------------------------------------------------

    def _follow_exit(self) -> None:
        """Set ``_exited`` the moment the process ends.

        ``Process.wait()`` also waits for its pipes to close, which local worker processes
        (sharing them) can delay for as long as they live; a pidfd reports the exit itself.
        """
        assert self._proc is not None
        loop = asyncio.get_running_loop()
        try:
            self._pidfd = os.pidfd_open(self._proc.pid)
        except (AttributeError, OSError):
            # No pidfd (not Linux, or the process is gone already): follow the return code,
            # which asyncio sets as soon as it reaps the process.
            self._tasks.append(asyncio.create_task(self._poll_exit(), name="loadgen-exit"))
            return

        def on_exit() -> None:
            self._exited.set()
            loop.remove_reader(self._pidfd)  # type: ignore[arg-type]

        loop.add_reader(self._pidfd, on_exit)

    async def _poll_exit(self) -> None:
        assert self._proc is not None
        while self._proc.returncode is None:
            await asyncio.sleep(0.1)
        self._exited.set()

    async def _wait_exit(self) -> None:
        await self._exited.wait()

    async def _reap(self) -> None:
        """After the exit: end what is left of its group, collect the status and output."""
        assert self._proc is not None
        self._kill_group(signal.SIGKILL)  # workers left behind by a dead master
        await asyncio.wait_for(self._proc.wait(), 5.0)
        await self._drain_output()
        self._close_pidfd()

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    def _kill_group(self, sig: signal.Signals) -> None:
        assert self._proc is not None
        if self._group_gone:
            return  # its id may belong to someone else by now
        try:
            os.killpg(self._proc.pid, sig)
        except ProcessLookupError:
            self._group_gone = True  # the whole group has exited already
        if sig == signal.SIGKILL and self._proc.returncode is not None:
            self._group_gone = True

    async def _drain_output(self) -> None:
        """Let the readers take what the process wrote before it ended."""
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=1.0)

    def _stderr_tail(self) -> str:
        lines = [line for line in self._stderr if line.strip()]
        errors = [line for line in lines if "error" in line.lower()]
        last = (errors or lines)[-1:] if lines else []
        return f": {last[0].strip()}" if last else ""

    def _died_error(self) -> LoadGeneratorError:
        assert self._proc is not None
        code = self._proc.returncode
        how = _describe_exit(code) if code is not None else "stopped responding"
        return LoadGeneratorError(f"load generator (pid {self._proc.pid}) {how}{self._stderr_tail()}")

    async def _read_stdout(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        async for raw in self._proc.stdout:
            if not raw.strip():
                continue
            try:
                event = parse_event(raw)
            except LoadGeneratorError as e:
                log.warning("loadgen.bad_line", error=str(e))
                continue
            if isinstance(event, LoadSecond):
                self._seconds.append(event)
                self._new_second.set()
            elif isinstance(event, LoadStarted):
                self.started = event
                self._started.set()
            else:
                self.ended = event

    async def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        async for raw in self._proc.stderr:
            self._stderr.append(raw.decode(errors="replace").rstrip())

