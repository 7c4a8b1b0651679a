"""The Locust program: open-loop requests at a profile's rate, with per-second statistics.

Run it through ``faastrain-loadgen`` (which validates the arguments first), or directly::

    locust -f loadgen/locustfile.py --headless --host http://127.0.0.1:8080 \\
        --rate-profile sine:period=60,low=5,high=50 --request-path /function/echo

How the rate is kept: the run has one seeded arrival schedule (:mod:`loadgen.schedule`).
Each user takes the next send time from it, sleeps until then, sends one request and goes
back for the next time. The shape (:class:`RateShape`) keeps enough users that one is always
free when an arrival is due — from the upcoming peak rate and the latencies seen so far, and
more whenever requests leave late — so the load is open-loop: a slow server does not slow
the arrivals down. Users are only ever added during a run, never stopped, because stopping a
user would drop its request in flight.

In distributed mode the master makes the plan (start time, profile) and sends worker ``i``
of ``N`` its share, every ``N``-th arrival of the one schedule; workers send their per-second
counts to the master, which writes the merged lines.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import time
from typing import Any, TextIO

import gevent
import gevent.event
import numpy as np
from locust import FastHttpUser, LoadTestShape, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from loadgen.lifeline import ORPHANED_EXIT, PARENT_CHECK_PERIOD, die_with_parent, orphaned
from loadgen.plan import Plan
from loadgen.profiles import draw_profile
from loadgen.schedule import ARRIVAL_MODES, ArrivalSchedule, target_count
from loadgen.stats import Aggregator, Recorder, SecondCounts, format_view, json_writer

# A worker hands its seconds over this long after they end: completions stamped just before
# the end of a second are recorded by then.
_HAND_OVER_GRACE_S = 0.3
_PLAN_WAIT_S = 60.0
_MESSAGE_PLAN = "faastrain_plan"
_MESSAGE_SECONDS = "faastrain_seconds"
# Locust imports this file before it forks its local workers (--processes): in a worker a
# different pid means a local fork, whose parent is the process with this pid.
_IMPORT_PID = os.getpid()


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    group = parser.add_argument_group("faastrain rate control")
    group.add_argument("--rate-profile", default="", help="Workload profile spec, e.g. constant:rate=10")
    group.add_argument("--schedule-seed", type=int, default=0, help="Seed of the arrival schedule")
    group.add_argument("--arrivals", choices=ARRIVAL_MODES, default="poisson", help="Arrival process")
    group.add_argument("--run-seconds", type=float, default=0.0, help="Length of the run (0: the profile's)")
    group.add_argument("--request-path", default="/", help="Path requested on --host")
    group.add_argument("--request-method", default="POST", help="HTTP method")
    group.add_argument("--request-body", default="", help="Request body")
    group.add_argument("--request-timeout", type=float, default=10.0, help="Seconds before a request times out")
    group.add_argument("--expect-status", type=int, default=200, help="The status of a successful request")
    group.add_argument("--max-users", type=int, default=2000, help="Upper bound on concurrent users")
    group.add_argument("--start-lead", type=float, default=1.0, help="Seconds from test start to schedule start")
    group.add_argument("--stats-file", default="-", help="File for the JSON lines ('-': stdout)")
    group.add_argument("--live-view", action="store_true", help="Write a readable view to stdout")
    group.add_argument("--parent-pid", type=int, default=0, help="Exit when this process ends (0: never)")


def _failure_kind(error: BaseException) -> str:
    # geventhttpclient wraps the socket error (RetriesExceeded(original=...)); classify the cause.
    seen = 0
    while getattr(error, "original", None) is not None and seen < 5:
        error = error.original  # type: ignore[attr-defined]
        seen += 1
    if isinstance(error, (TimeoutError, gevent.Timeout)):
        return "timeout"
    # geventhttpclient's ConnectionError and HTTPConnectionClosed are not OSErrors.
    if isinstance(error, OSError) or type(error).__name__ in ("HTTPConnectionClosed", "ConnectionError"):
        return "connection"
    return "error"


class _Run:
    """The state of this process's part of the run (one per process)."""

    def __init__(self) -> None:
        self.plan: Plan | None = None
        self.ready = gevent.event.Event()
        self.times: Any = iter(())
        self.recorder = Recorder()
        self.aggregator: Aggregator | None = None
        self.environment: Environment | None = None
        self.out: TextIO | None = None
        self.greenlets: list[gevent.Greenlet] = []

    def make_plan(self, environment: Environment) -> Plan:
        """The master's (or the local process's) plan, made once at the first shape tick."""
        if self.plan is None:
            opts = environment.parsed_options
            if not opts.rate_profile:
                raise ValueError("--rate-profile is required, e.g. --rate-profile constant:rate=10")
            t0 = math.ceil(time.time() + opts.start_lead)
            schedule = ArrivalSchedule(
                draw_profile(opts.rate_profile, opts.schedule_seed),  # a ranged spec draws from the seed
                seed=opts.schedule_seed,
                arrivals=opts.arrivals,
                duration=opts.run_seconds or None,
            )
            self.plan = Plan(schedule, t0=t0)
        return self.plan

    def adopt(self, plan: Plan) -> None:
        """Start sending this process's share of ``plan``."""
        self.plan = plan
        self.times = plan.schedule.times(plan.t0)
        self.ready.set()

    def next_send_time(self) -> float | None:
        """The next unclaimed send time of this process, or None when the schedule ended."""
        if not self.ready.wait(_PLAN_WAIT_S):
            raise RuntimeError(f"no plan from the master within {_PLAN_WAIT_S:g} s")
        return next(self.times, None)


RUN = _Run()


def _open_output(opts: Any) -> TextIO:
    return sys.stdout if opts.stats_file == "-" else open(opts.stats_file, "w", buffering=1, encoding="utf-8")


def _writer(opts: Any, out: TextIO) -> Any:
    to_json = json_writer(out) if (opts.stats_file != "-" or not opts.live_view) else None

    def write(line: dict[str, Any]) -> None:
        if to_json is not None:
            to_json(line)
        if opts.live_view:
            if line["event"] == "second":
                sys.stdout.write(format_view(line) + "\n")
            elif line["event"] == "start":
                sys.stdout.write(
                    f"{line['profile']} -> {line['url']}  (seed {line['seed']}, {line['arrivals']} arrivals, "
                    f"{line['workers']} process(es)); Ctrl-C stops\n"
                )
            elif line["event"] == "end":
                sys.stdout.write(f"done: {line['sent']} requests sent, {line['failed']} failed\n")
            sys.stdout.flush()

    return write


def _start_aggregating(environment: Environment, plan: Plan, shares: int) -> None:
    """Master or local process: merge the seconds and write the lines."""
    opts = environment.parsed_options
    RUN.out = _open_output(opts)
    write = _writer(opts, RUN.out)
    whole = plan.whole().seconds()
    scheduled: dict[int, int] = {}

    def targets(elapsed: int) -> tuple[float, int]:
        # The master counts the whole schedule alongside, so a line can show the exact number
        # of arrivals its second holds; lines come in order, so this walks forward only.
        while elapsed not in scheduled:
            try:
                k, offsets = next(whole)
            except StopIteration:
                return 0.0, 0
            scheduled[k] = len(offsets)
        end = plan.whole().end
        return target_count(plan.schedule.profile, elapsed, end), scheduled.pop(elapsed)

    RUN.aggregator = Aggregator(
        t0=plan.t0,
        reporters=shares,
        targets=targets,
        users=lambda: environment.runner.user_count if environment.runner else 0,
        write=write,
    )
    p = plan.schedule.profile
    write(
        {
            "event": "start",
            "t": time.time(),
            "t0": plan.t0,
            "profile": p.spec,
            "peak_rps": p.peak,
            "seed": plan.schedule.seed,
            "arrivals": plan.schedule.arrivals,
            "duration": plan.whole().end,
            "workers": shares,
            "url": f"{environment.host}{opts.request_path}",
        }
    )

    aggregator = RUN.aggregator

    def loop() -> None:
        while True:
            if shares == 1 and not isinstance(environment.runner, MasterRunner):
                aggregator.add(0, RUN.recorder.take_final(plan.t0, _HAND_OVER_GRACE_S))
            aggregator.flush()
            gevent.sleep(0.25)

    RUN.greenlets.append(gevent.spawn(loop))


def _start_handing_over(environment: Environment, plan: Plan) -> None:
    """Worker: send finished seconds to the master."""

    def loop() -> None:
        while True:
            seconds = RUN.recorder.take_final(plan.t0, _HAND_OVER_GRACE_S)
            if seconds:
                environment.runner.send_message(
                    _MESSAGE_SECONDS,
                    {"share": plan.schedule.share, "seconds": [[s, c.to_wire()] for s, c in seconds]},
                )
            gevent.sleep(0.25)

    RUN.greenlets.append(gevent.spawn(loop))


def _die_with(parent: int) -> None:
    """End this process as soon as ``parent`` has ended: a generator must not outlive its owner."""
    die_with_parent()
    if orphaned(parent):
        os._exit(ORPHANED_EXIT)

    def watch() -> None:
        while not orphaned(parent):
            gevent.sleep(PARENT_CHECK_PERIOD)
        os._exit(ORPHANED_EXIT)

    gevent.spawn(watch)


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    RUN.environment = environment
    runner = environment.runner
    if os.getpid() != _IMPORT_PID:
        _die_with(_IMPORT_PID)  # a local worker: useless, and unstoppable, once its master is gone
    elif environment.parsed_options.parent_pid:
        _die_with(environment.parsed_options.parent_pid)
    if isinstance(runner, WorkerRunner):

        def on_plan(environment: Environment, msg: Any, **_: Any) -> None:
            plan = Plan.from_wire(msg.data)
            RUN.adopt(plan)
            _start_handing_over(environment, plan)

        runner.register_message(_MESSAGE_PLAN, on_plan)
        return
    # Locust installs its SIGTERM handler only after a shape-driven headless run has ended;
    # until then SIGTERM would kill the process without its last lines. Quitting the runner
    # ends the run, and Locust then shuts down as after any run.
    gevent.signal_handler(signal.SIGTERM, runner.quit)
    if isinstance(runner, MasterRunner):

        def on_seconds(environment: Environment, msg: Any, **_: Any) -> None:
            if RUN.aggregator is not None:
                seconds = [(int(s), SecondCounts.from_wire(c)) for s, c in msg.data["seconds"]]
                RUN.aggregator.add(msg.data["share"], seconds)

        runner.register_message(_MESSAGE_SECONDS, on_seconds)


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner) or RUN.aggregator is not None:
        return
    plan = RUN.make_plan(environment)
    if isinstance(runner, MasterRunner):
        # Shares follow the workers' indexes, so each worker keeps its share for the run.
        workers = sorted(runner.clients.all, key=lambda c: runner.get_worker_index(c.id))
        for share, client in enumerate(workers):
            runner.send_message(_MESSAGE_PLAN, plan.for_share(share, len(workers)).to_wire(), client_id=client.id)
        _start_aggregating(environment, plan, len(workers))
    else:
        RUN.adopt(plan)
        _start_aggregating(environment, plan, 1)


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    for greenlet in RUN.greenlets:
        greenlet.kill(block=False)
    if RUN.aggregator is not None:
        if not isinstance(environment.runner, MasterRunner):
            RUN.aggregator.add(0, RUN.recorder.take_final(RUN.aggregator.t0, 0.0))
        RUN.aggregator.flush(final=True)
        write = _writer(environment.parsed_options, RUN.out or sys.stdout)
        write(
            {
                "event": "end",
                "t": time.time(),
                "sent": RUN.aggregator.total_sent,
                "failed": RUN.aggregator.total_failed,
            }
        )
        if RUN.out is not None and RUN.out is not sys.stdout:
            RUN.out.close()


class ScheduledRequest(FastHttpUser):
    """Sends one request at each send time it takes from the schedule."""

    def __init__(self, environment: Environment) -> None:
        opts = environment.parsed_options
        # Read by FastHttpUser.__init__ when it builds the client.
        self.network_timeout = opts.request_timeout
        self.connection_timeout = opts.request_timeout
        super().__init__(environment)
        self._method = opts.request_method.upper()
        self._path = opts.request_path
        self._body = opts.request_body.encode() if opts.request_body else None
        self._expect = opts.expect_status

    def wait_time(self) -> float:
        return 0.0  # the schedule paces the requests

    @task
    def send(self) -> None:
        when = RUN.next_send_time()
        if when is None:
            gevent.sleep(1.0)  # the run is over; the shape stops the users shortly
            return
        delay = when - time.time()
        if delay > 0:
            gevent.sleep(delay)
        sent_at = time.time()
        RUN.recorder.sent(sent_at, sent_at - when)
        with self.client.request(
            self._method, self._path, data=self._body, name=self._path, catch_response=True
        ) as response:
            status = response.status_code or 0
            error = response.request_meta.get("exception")
            if status and status != self._expect:
                failure: str | None = f"status_{status}"
            elif error is not None or not status:
                failure = _failure_kind(error) if error is not None else "error"
            else:
                failure = None
            if failure is None:
                response.success()
            else:
                response.failure(failure)
        latency = response.request_meta.get("response_time")
        latency_s = latency / 1000.0 if latency is not None else time.time() - sent_at
        RUN.recorder.completed(time.time(), latency_s, failure)


class RateShape(LoadTestShape):
    """Keeps enough users for the upcoming rate; stops the test after the run and a drain."""

    use_common_options = False

    def __init__(self) -> None:
        super().__init__()
        self.users = 0

    def tick(self) -> tuple[int, float] | None:
        environment = RUN.environment
        assert environment is not None and environment.runner is not None
        opts = environment.parsed_options
        plan = RUN.make_plan(environment)
        elapsed = max(time.time() - plan.t0, 0.0)
        end = plan.whole().end
        if end is not None and elapsed >= end:
            # Drain: stop once every request sent has completed (as far as the written lines
            # show), or when the last ones must have timed out.
            agg = RUN.aggregator
            drained = agg is not None and agg.written_until >= plan.t0 + math.ceil(end) and (
                agg.total_done >= agg.total_sent
            )
            if drained or elapsed > end + opts.request_timeout + 3.0:
                return None
        horizon = elapsed + np.linspace(0.0, 10.0, 101)
        if end is not None:
            horizon = horizon[horizon < end]
        peak = float(np.max(plan.schedule.profile.rate(horizon))) if horizon.size else 0.0
        agg = RUN.aggregator
        recent = agg.recent[-5:] if agg is not None else []
        p50 = [line["p50_ms"] / 1000.0 for line in recent if line["p50_ms"] is not None]
        latency = max(p50, default=0.01)
        # Little's law: rate × latency users are busy on average; the factor and the margin
        # leave free users for Poisson bursts and slow requests. (The median, not the p99:
        # when the CPU saturates, tail latency grows, and more users would make it worse.)
        needed = math.ceil(peak * (latency + 0.005) * 2.0) + 5
        in_flight = agg.total_sent - agg.total_done if agg is not None else 0
        if any(line["late"] for line in recent[-2:]) and in_flight >= 0.8 * self.users:
            # Requests left late because every user was busy. (When users are idle, lateness
            # means the CPU is saturated, and more users would only cost more CPU.)
            needed = max(needed, math.ceil(self.users * 1.5))
        workers = len(environment.runner.clients.all) if isinstance(environment.runner, MasterRunner) else 1
        self.users = min(max(self.users, needed, workers), max(opts.max_users, workers))
        return self.users, float(self.users)
