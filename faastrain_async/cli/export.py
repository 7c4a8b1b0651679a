"""``faastrain export``: a finished run's series from Prometheus, as CSV.

Off the step path, so it uses prometheus-api-client (synchronous) for range queries.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
from pathlib import Path

from prometheus_api_client import PrometheusApiClientException, PrometheusConnect

from faastrain_async.backends.kubernetes.settings import KubernetesSettings, promql_string
from faastrain_async.errors import ConfigError, MetricsUnavailable


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


def export_series(url: str, settings: KubernetesSettings, start: float, end: float, step: float) -> list[dict[str, float | None]]:
    """One row per step between ``start`` and ``end`` (unix seconds); None where a series has no value."""
    if not end > start:
        raise ConfigError(f"export window [{start}, {end}] is not valid: end must be after start")
    prometheus = PrometheusConnect(url=url, disable_ssl=True)
    rows: dict[float, dict[str, float | None]] = {}
    names = list(series_queries(settings, step))
    for name, query in series_queries(settings, step).items():
        try:
            result = prometheus.custom_query_range(
                query,
                start_time=dt.datetime.fromtimestamp(start, dt.timezone.utc),
                end_time=dt.datetime.fromtimestamp(end, dt.timezone.utc),
                step=f"{step:g}s",
            )
        except (PrometheusApiClientException, OSError) as e:
            raise MetricsUnavailable(f"Prometheus at {url} could not answer {query!r}: {e}") from e
        for series in result:
            for t, value in series["values"]:
                rows.setdefault(float(t), dict.fromkeys(names))[name] = float(value)
    return [{"time": t, **values} for t, values in sorted(rows.items())]


def _window_of_run(steps_file: Path) -> tuple[float, float]:
    starts, ends = [], []
    for line in steps_file.read_text().splitlines():
        info = json.loads(line)["info"]
        starts.append(info["t_action"])
        ends.append(info["window"][1])
    if not starts:
        raise ConfigError(f"{steps_file} holds no steps")
    return min(starts), max(ends)


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
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = KubernetesSettings(
        function=args.function, namespace=args.namespace, function_label_form=args.function_label_form, prometheus_url=args.prometheus,
    )  # fmt: skip
    if args.steps_file is not None:
        if not args.steps_file.is_file():
            raise ConfigError(f"--steps-file {str(args.steps_file)!r} does not exist")
        start, end = _window_of_run(args.steps_file)
    else:
        if args.end is None:
            raise ConfigError("--start needs --end")
        start, end = args.start, args.end
    if not args.step > 0:
        raise ConfigError(f"--step {args.step}: must be > 0")
    rows = export_series(settings.prometheus_url, settings, start, end, args.step)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["time", *series_queries(settings, args.step)])
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {args.out}")
    return 0
