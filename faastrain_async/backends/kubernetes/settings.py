"""Settings of the Kubernetes + OpenFaaS backend, and the checks on names that reach URLs and PromQL."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from faastrain_async.backoff import backoff_delay
from faastrain_async.config import bounded, check, dns_label, http_method, one_of
from faastrain_async.errors import ConfigError

# One requirement of a label selector: key=value, key==value or key!=value (no set syntax).
_SELECTOR_PART = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_./]{0,252})(=|==|!=)([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")

ScalerKind = Literal["kubernetes", "openfaas"]
ResourceMetrics = Literal["metrics-api", "cadvisor"]
MetricsPolicy = Literal["raise", "stale"]


def label_selector(value: object) -> str:
    """``value`` if it is an equality-based label selector such as ``faas_function=matmul``."""
    # fullmatch and spaces only: '$' would let a trailing newline through, and strip() would drop it.
    if not isinstance(value, str) or not all(_SELECTOR_PART.fullmatch(part.strip(" ")) for part in value.split(",")):
        raise ConfigError(f"label_selector={value!r} is not valid: expected key=value[,key2=value2]")
    return value


def promql_string(value: str) -> str:
    """``value`` as a double-quoted PromQL string literal (backslash and quote escaped)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _label_form(value: object) -> None:
    """Refuse a ``function_name`` form other than text around ``{function}`` and ``{namespace}``."""
    try:
        fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(value) if f is not None] if isinstance(value, str) else []
    except ValueError:  # an unbalanced brace
        fields = []
    check(
        any(f == "function" for f, _, _ in fields) and all(f in ("function", "namespace") and not spec and conv is None for f, spec, conv in fields),
        "function_label_form", value,
        "must name the function as {function}, optionally with {namespace}, e.g. '{function}.{namespace}' or '{function}'",
    )  # fmt: skip


def _url(what: str, value: object) -> str:
    try:
        parts = urlsplit(value) if isinstance(value, str) else None
    except ValueError:  # an unbalanced '[' of an IPv6 address, ...
        parts = None
    if isinstance(value, str) and any(not c.isprintable() or c.isspace() for c in value):
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{what}={value!r} is not valid: must be an http:// or https:// URL")
    return str(value).rstrip("/")


@dataclass(frozen=True)
class KubernetesSettings:
    """Where the function runs and how to reach its cluster, Prometheus and gateway."""

    #: Function name (OpenFaaS) and, unless ``deployment`` says otherwise, its Deployment.
    function: str = "api"
    namespace: str = "openfaas-fn"
    deployment: str | None = None
    #: Selector of the function's pods; None: ``faas_function=<function>``.
    label_selector: str | None = None
    #: Kubeconfig file and context; None: the default kubeconfig and its current context.
    kubeconfig: str | None = None
    context: str | None = None
    #: Use the service account of the pod the env runs in (a training Job in the cluster).
    in_cluster: bool = False
    prometheus_url: str = "http://127.0.0.1:9090"
    gateway_url: str = "http://127.0.0.1:8080"
    #: "kubernetes" patches deployments/scale; "openfaas" asks the gateway's scale API.
    scaler: ScalerKind = "kubernetes"
    #: Basic-auth credentials of the gateway's API (``scaler="openfaas"``; OpenFaaS requires them).
    gateway_user: str | None = None
    gateway_password: str | None = None
    #: CPU and memory from metrics.k8s.io (as FaaSTrainGym) or from cAdvisor series in Prometheus.
    resource_metrics: ResourceMetrics = "metrics-api"
    #: When Prometheus cannot answer: raise MetricsUnavailable, or return the last window's
    #: values flagged ``info["metrics_stale"]``.
    on_metrics_unavailable: MetricsPolicy = "raise"
    #: Longest wait after a window for Prometheus to ingest a scrape at or after its end.
    ingest_timeout: float = 30.0
    #: Each API or PromQL request's time limit, and how often a failed one is retried.
    request_timeout: float = 10.0
    retries: int = 4
    #: Exponential backoff between retries: first delay and cap (seconds, with jitter).
    backoff: float = 0.2
    backoff_max: float = 5.0
    #: Server-side duration of one watch request before it is resumed (seconds).
    watch_timeout: int = 300
    #: Consecutive failed (re)connections after which the pod watcher gives up.
    watch_failures: int = 8
    #: The ``function_name`` label of the gateway's metrics: ``{function}.{namespace}`` (OpenFaaS
    #: on Kubernetes), or ``{function}`` for gateway versions that leave the namespace out.
    function_label_form: str = "{function}.{namespace}"
    #: Load generator: local worker processes, request timeout, HTTP method and request body.
    load_workers: int = 0
    load_timeout: float = 10.0
    load_method: str = "POST"
    load_body: str = ""
    #: Start the bundled local cluster and point everything above at it.
    local_cluster: bool = False
    #: Local cluster: the function kind ("api", "matmul", "sleep" or "module:function") and extra cold start.
    local_function_kind: str = "api"
    local_cold_start: float = 0.0
    local_scrape_interval: float = 1.0

    def __post_init__(self) -> None:
        dns_label("function", self.function)
        dns_label("namespace", self.namespace)
        if self.deployment is not None:
            dns_label("deployment", self.deployment)
        if self.label_selector is not None:
            label_selector(self.label_selector)
        object.__setattr__(self, "prometheus_url", _url("prometheus_url", self.prometheus_url))
        object.__setattr__(self, "gateway_url", _url("gateway_url", self.gateway_url))
        one_of("scaler", self.scaler, ("kubernetes", "openfaas"))
        one_of("resource_metrics", self.resource_metrics, ("metrics-api", "cadvisor"))
        one_of("on_metrics_unavailable", self.on_metrics_unavailable, ("raise", "stale"))
        for name, bound in (
            ("ingest_timeout", "timeout"), ("request_timeout", "timeout"), ("load_timeout", None), ("backoff", None),
            ("backoff_max", "backoff"), ("local_scrape_interval", "scrape_interval"), ("retries", None),
            ("watch_timeout", None), ("watch_failures", None), ("load_workers", None), ("local_cold_start", "delay"),
        ):  # fmt: skip
            bounded(name, getattr(self, name), bound)
        if (self.gateway_user is None) != (self.gateway_password is None):
            raise ConfigError("gateway_user and gateway_password go together; give both or neither")
        for name in ("in_cluster", "local_cluster"):
            check(isinstance(getattr(self, name), bool), name, getattr(self, name), "must be true or false")
        if self.in_cluster and self.kubeconfig:
            raise ConfigError("in_cluster=True and kubeconfig were both given; choose one")
        _label_form(self.function_label_form)
        http_method("load_method", self.load_method)
        check(isinstance(self.load_body, str), "load_body", self.load_body, "must be a string")

    @property
    def deployment_name(self) -> str:
        return self.deployment or self.function

    @property
    def selector(self) -> str:
        return self.label_selector or f"faas_function={self.function}"

    @property
    def function_label(self) -> str:
        """The ``function_name`` label of the OpenFaaS gateway metrics (``function_label_form``)."""
        return self.function_label_form.format(function=self.function, namespace=self.namespace)

    def delay(self, attempt: int, jitter: float) -> float:
        """Backoff before retry ``attempt`` (1, 2, ...); ``jitter`` in [0, 1) spreads it."""
        return backoff_delay(attempt, self.backoff, self.backoff_max, jitter)
