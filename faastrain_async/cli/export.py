"""``faastrain export``: a finished run's series from Prometheus, as CSV.

Off the step path, so it uses prometheus-api-client (synchronous) for range queries. Every
request has ``--timeout`` seconds; a Prometheus that does not answer in time, answers
something that is not its JSON, or cannot be reached is one line of error (exit status 2).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.util.retry import Retry

from faastrain_async.backends.kubernetes.settings import KubernetesSettings, promql_string
from faastrain_async.clients.prometheus import quote
from faastrain_async.config import bounded
from faastrain_async.errors import ConfigError, MetricsUnavailable
from faastrain_async.outputs import output_file, writing

#: Seconds each request to Prometheus may take, unless --timeout says otherwise.
DEFAULT_TIMEOUT = 30.0
#: Retries of a request that failed to connect, timed out or got a 5xx.
RETRIES = 2
#: Rows of one export at most: Prometheus answers at most 11,000 points per series.
MAX_ROWS = 11_000
#: Unix times before this one (2001-09-09) are no wall-clock times: a simulated run's are
#: virtual seconds from 0.
FIRST_UNIX_TIME = 1e9


def series_queries(settings: KubernetesSettings, step: float) -> dict[str, str]:
    """Per-second rates and gauges of the function over ``step``-second steps."""
    fn = f"function_name={promql_string(settings.function_label)}"
    ok = f'{fn},code="200"'
    w = f"{max(1, round(2 * step * 1000))}ms"  # a rate needs two scrapes in its window
    return {
        "requests_per_s": f"sum(rate(gateway_function_invocation_total{{{fn}}}[{w}]))",
        "successes_per_s": f"sum(rate(gateway_function_invocation_total{{{ok}}}[{w}]))",
        "mean_exec_s": f"sum(rate(gateway_functions_seconds_sum{{{ok}}}[{w}])) / sum(rate(gateway_functions_seconds_count{{{ok}}}[{w}]))",
        "replicas": f"max(gateway_service_count{{{fn}}})",
    }


def check_window(start: float, end: float, step: float) -> None:
    """Refuse a window that is not a span of wall-clock time, or that has too many rows."""
    for name, value in (("start", start), ("end", end)):
        if not (math.isfinite(value) and FIRST_UNIX_TIME <= value <= 1e11):
            raise ConfigError(
                f"--{name} {value!r} is not valid: must be unix seconds (a simulated run's virtual times cannot be exported)"
            )
    if not end > start:
        raise ConfigError(f"export window [{start}, {end}] is not valid: end must be after start")
    if not (math.isfinite(step) and step > 0):
        raise ConfigError(f"--step {step!r} is not valid: must be a finite number of seconds > 0")
    if (end - start) / step > MAX_ROWS:
        raise ConfigError(
            f"--step {step:g} over [{start:.3f}, {end:.3f}] makes {(end - start) / step:.0f} rows; "
            f"Prometheus answers at most {MAX_ROWS}: give a larger --step"
        )


def export_series(
    url: str, settings: KubernetesSettings, start: float, end: float, step: float, *, timeout: float = DEFAULT_TIMEOUT
) -> list[dict[str, float | None]]:
    """One row per step between ``start`` and ``end`` (unix seconds); None where a series has no value.

    Each request has ``timeout`` seconds (retried :data:`RETRIES` times); a failure, or an
    answer that cannot be read, raises :class:`MetricsUnavailable` naming the query.
    """
    check_window(start, end, step)
    retry = Retry(total=RETRIES, backoff_factor=0.2, status_forcelist=(502, 503, 504), allowed_methods=None)
    prometheus = PrometheusConnect(url=url, disable_ssl=True, retry=retry, timeout=timeout)  # type: ignore[arg-type]
    rows: dict[float, dict[str, float | None]] = {}
    names = list(series_queries(settings, step))
    for name, query in series_queries(settings, step).items():
        try:
            result: Any = prometheus.custom_query_range(
                query,
                start_time=dt.datetime.fromtimestamp(start, dt.timezone.utc),
                end_time=dt.datetime.fromtimestamp(end, dt.timezone.utc),
                step=f"{step:g}s",
                timeout=timeout,  # type: ignore[arg-type]
            )
        except (PrometheusApiClientException, OSError) as e:  # requests' errors are OSErrors
            raise MetricsUnavailable(f"Prometheus at {url} could not answer {query!r} within {timeout:g}s: {e}") from None
        except (ValueError, KeyError, TypeError) as e:  # not Prometheus' JSON
            raise MetricsUnavailable(f"Prometheus at {url} answered {query!r} with something that is not its JSON: {e!r}") from None
        try:
            for series in result:
                for t, value in series["values"]:
                    rows.setdefault(float(t), dict.fromkeys(names))[name] = float(value)
        except (ValueError, KeyError, TypeError) as e:
            raise MetricsUnavailable(
                f"Prometheus at {url} answered {query!r} with a result that cannot be read ({e!r}): {quote(json.dumps(result, default=str))}"
            ) from None
    return [{"time": t, **values} for t, values in sorted(rows.items())]


def window_of_run(steps_file: Path) -> tuple[float, float]:
    """The first step's action time and the last window's end, from a run's steps.jsonl."""
    starts, ends = [], []
    try:
        text = steps_file.read_text(errors="replace")
    except OSError as e:
        raise ConfigError(f"--steps-file {str(steps_file)!r} cannot be read: {e.strerror or e}") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            info = json.loads(line)["info"]
            starts.append(float(info["t_action"]))
            ends.append(float(info["window"][1]))
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise ConfigError(
                f"--steps-file {str(steps_file)!r} line {number} is not a step of `faastrain run` "
                f"(needs info.t_action and info.window): {e!r}"
            ) from None
    if not starts:
        raise ConfigError(f"--steps-file {str(steps_file)!r} holds no steps")
    start = min(starts)
    if start < FIRST_UNIX_TIME:
        summary = steps_file.with_name("summary.json")
        raise ConfigError(
            f"--steps-file {str(steps_file)!r} is a simulated run (its times start at {start:g} virtual seconds"
            f"{', see ' + str(summary) if summary.is_file() else ''}): Prometheus holds nothing of it; export runs on a cluster"
        )
    return start, max(ends)


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("export", help="export a run's series from Prometheus to CSV")
    parser.add_argument("--prometheus", required=True, help="Prometheus URL, e.g. http://127.0.0.1:9090")
    parser.add_argument("--function", default=KubernetesSettings().function, help="the function's name")
    parser.add_argument("--namespace", default="openfaas-fn", help="the function's namespace")
    parser.add_argument(
        "--function-label-form", default=KubernetesSettings.function_label_form,
        help="the gateway metrics' function_name label; '{function}' for gateways that leave the namespace out",
    )  # fmt: skip
    window = parser.add_mutually_exclusive_group(required=True)
    window.add_argument("--steps-file", type=Path, help="a run's steps.jsonl: export the time it covers")
    window.add_argument("--start", type=float, help="unix seconds (with --end)")
    parser.add_argument("--end", type=float, help="unix seconds")
    parser.add_argument("--step", type=float, default=1.0, help="seconds between rows")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help=f"seconds each request to Prometheus may take (retried {RETRIES} times)"
    )
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = KubernetesSettings(
        function=args.function, namespace=args.namespace, function_label_form=args.function_label_form, prometheus_url=args.prometheus,
    )  # fmt: skip
    bounded("--timeout", args.timeout, "timeout")
    if args.steps_file is not None:
        if not args.steps_file.is_file():
            raise ConfigError(f"--steps-file {str(args.steps_file)!r} does not exist")
        start, end = window_of_run(args.steps_file)
    else:
        if args.end is None:
            raise ConfigError("--start needs --end")
        start, end = args.start, args.end
    check_window(start, end, args.step)
    output_file(args.out)
    rows = export_series(settings.prometheus_url, settings, start, end, args.step, timeout=args.timeout)
    with writing(args.out), args.out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["time", *series_queries(settings, args.step)])
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {args.out}")
    return 0
