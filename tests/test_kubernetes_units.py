"""The Kubernetes backend's checks and translations, without a cluster."""

from __future__ import annotations

import pytest

from faastrain_async.backends.kubernetes.metrics import count_queries, ingest_query, window_queries
from faastrain_async.cli.export import series_queries
from faastrain_async.backoff import backoff_delay
from faastrain_async.quantity import parse_quantity
from faastrain_async.backends.kubernetes.settings import KubernetesSettings, promql_string
from faastrain_async.errors import ConfigError


def test_defaults_follow_faastraingym() -> None:
    s = KubernetesSettings()
    assert (s.function, s.namespace, s.selector, s.function_label) == (
        "api", "openfaas-fn", "faas_function=api", "api.openfaas-fn",
    )
    assert s.deployment_name == "api" and s.local_function_kind == "api"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"function": "Matmul"}, "function='Matmul'.*DNS-1123"),
        ({"function": 'x"} or vector(1) #'}, "DNS-1123"),
        ({"namespace": "-fn"}, "namespace='-fn'"),
        ({"deployment": "a" * 64}, "deployment="),
        ({"label_selector": "app in (a,b)"}, "label_selector='app in \\(a,b\\)'"),
        ({"prometheus_url": "ftp://x"}, "prometheus_url='ftp://x'"),
        ({"gateway_url": "gateway:8080"}, "gateway_url="),
        ({"scaler": "keda"}, "scaler='keda'.*kubernetes, openfaas"),
        ({"resource_metrics": "top"}, "resource_metrics='top'"),
        ({"on_metrics_unavailable": "zero"}, "on_metrics_unavailable='zero'.*raise, stale"),
        ({"retries": -1}, "retries=-1"),
        ({"request_timeout": 0}, "request_timeout=0"),
        ({"in_cluster": "true"}, "in_cluster='true'"),
        ({"in_cluster": True, "kubeconfig": "k.yaml"}, "choose one"),
        ({"gateway_user": "admin"}, "go together"),
        ({"function_label_form": "{name}.{namespace}"}, "function_label_form='{name}.{namespace}'.*{function}"),
        ({"function_label_form": "{namespace}"}, "must name the function as {function}"),
        ({"load_method": "PO ST"}, "load_method='PO ST'.*HTTP method"),
    ],
)
def test_bad_settings_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        KubernetesSettings(**kwargs)


def test_the_function_label_form_reaches_every_query() -> None:
    bare = KubernetesSettings(function_label_form="{function}")
    assert bare.function_label == "api"
    queries = [*window_queries(bare, 30.0).values(), *count_queries(bare, 30.0).values(), ingest_query(bare), *series_queries(bare, 1.0).values()]
    assert all('function_name="api"' in q for q in queries if "function_name" in q)
    assert not any("openfaas-fn" in q for q in queries)


def test_promql_label_values_are_escaped() -> None:
    assert promql_string('a"b\\c') == '"a\\"b\\\\c"'


def test_window_queries_are_faastraingyms_over_the_window() -> None:
    q = window_queries(KubernetesSettings(), 30.0)
    f = 'function_name="api.openfaas-fn"'
    assert "requests" not in q and "successes" not in q  # counted from raw samples: count_queries
    counts = count_queries(KubernetesSettings(), 30.0)
    assert counts["counters"] == f"gateway_function_invocation_total{{{f}}}[150000ms]"  # the window and EDGE_LOOKBACK
    assert counts["scrapes"] == f"gateway_service_count{{{f}}}[150000ms]"
    assert "rate(gateway_functions_seconds_sum" in q["mean_exec"] and "/" in q["mean_exec"]
    assert q["p95_exec"].startswith("histogram_quantile(0.95")
    assert "cpu_cores" not in q
    cadvisor = window_queries(KubernetesSettings(resource_metrics="cadvisor"), 2.5)
    assert 'pod=~"api-.*"' in cadvisor["cpu_cores"] and "[2500ms]" in cadvisor["mem_bytes"]
    assert ingest_query(KubernetesSettings()) == f"max(timestamp(gateway_service_count{{{f}}}))"


@pytest.mark.parametrize(
    ("text", "value"),
    [("250m", 0.25), ("12345678n", 0.012345678), ("1", 1.0), ("1500u", 0.0015), ("64Mi", 64 * 2**20), ("131072Ki", 128 * 2**20), ("1G", 1e9), ("0.5", 0.5)],
)
def test_quantities(text: str, value: float) -> None:
    assert parse_quantity(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "12q", "Mi", "-5m", "1.2.3"])
def test_bad_quantities(text: str) -> None:
    with pytest.raises(ConfigError, match="not a Kubernetes quantity"):
        parse_quantity(text)


def test_backoff_doubles_from_the_first_delay_up_to_the_cap_with_jitter() -> None:
    assert [backoff_delay(n, 0.2, 5.0, 0.0) for n in (1, 2, 3, 10)] == [0.1, 0.2, 0.4, 2.5]
    assert backoff_delay(1, 0.2, 5.0, 0.999) < 0.2 <= backoff_delay(2, 0.2, 5.0, 0.999)
    assert KubernetesSettings(backoff=0.5, backoff_max=1.0).delay(4, 0.0) == 0.5
