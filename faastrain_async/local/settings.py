"""Settings of the local cluster: the functions it serves and how the cluster behaves.

Plain frozen values checked when built; the CLI builds them from its flags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from faastrain_async.config import check, dns_label, int_at_least, non_negative, positive
from faastrain_async.quantity import parse_quantity

#: Kinds of function built in; anything else must be a ``module:function`` handler.
BUILTIN_KINDS: tuple[str, ...] = ("api", "matmul", "sleep")

_HANDLER = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class KindDefaults:
    """What a function of one kind does unless its FunctionSpec says otherwise."""

    max_inflight: int
    matmul_size: tuple[int, int]
    sleep_seconds: tuple[float, float]


#: ``api`` is a typical web API call, about 0.2 s mostly spent waiting, two at a time per
#: replica: the default sine workload needs about 1 to 8 replicas. ``matmul`` is CPU-bound
#: and fast, so its replicas compete for the machine's cores. A ``module:function`` handler
#: takes ``sleep``'s values.
KIND_DEFAULTS: dict[str, KindDefaults] = {
    "api": KindDefaults(max_inflight=2, matmul_size=(200, 400), sleep_seconds=(0.15, 0.25)),
    "matmul": KindDefaults(max_inflight=8, matmul_size=(100, 300), sleep_seconds=(0.1, 0.1)),
    "sleep": KindDefaults(max_inflight=8, matmul_size=(100, 300), sleep_seconds=(0.1, 0.1)),
}


def kind_defaults(kind: str) -> KindDefaults:
    """The defaults of a built-in kind, or those of a ``module:function`` handler."""
    return KIND_DEFAULTS.get(kind, KIND_DEFAULTS["sleep"])


@dataclass(frozen=True)
class FunctionSpec:
    """One function the cluster serves, as its own Deployment in ``openfaas-fn``.

    ``max_inflight``, ``matmul_size`` and ``sleep_seconds`` left at None take the kind's
    values (:data:`KIND_DEFAULTS`) once the spec is built.
    """

    #: Function (and Deployment) name, a DNS-1123 label; pods carry ``faas_function=<name>``.
    name: str = "api"
    #: "api", "matmul", "sleep", or a handler of your own as "module:function" (called with
    #: the request body as bytes; may be async; returns bytes, str, or a JSON-serialisable value).
    kind: str = "api"
    #: Replicas the Deployment starts with.
    replicas: int = 1
    #: Extra seconds a new replica process stays not ready after it starts (function init).
    cold_start: float = 0.0
    #: matmul and api: the matrix side is drawn uniformly from [low, high] per request (low == high: fixed).
    matmul_size: tuple[int, int] | None = None
    #: sleep and api: the wait is drawn uniformly from [low, high] seconds per request.
    sleep_seconds: tuple[float, float] | None = None
    #: Requests a replica runs at once; more are answered 429 (the watchdog's max_inflight).
    max_inflight: int | None = None
    #: Seconds a call may take, in the replica and the gateway (504 after).
    timeout: float = 10.0
    #: CPU and memory requests declared on the Deployment.
    cpu_request: str = "100m"
    memory_request: str = "128Mi"

    def __post_init__(self) -> None:
        dns_label("function name", self.name)
        check(
            self.kind in BUILTIN_KINDS or (isinstance(self.kind, str) and _HANDLER.match(self.kind) is not None),
            "function kind", self.kind, f"must be one of {', '.join(BUILTIN_KINDS)} or 'module:function'",
        )
        defaults = kind_defaults(self.kind)
        for name in ("max_inflight", "matmul_size", "sleep_seconds"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, getattr(defaults, name))
        int_at_least("replicas", self.replicas, 0)
        non_negative("cold_start", self.cold_start)
        assert self.matmul_size is not None and self.sleep_seconds is not None and self.max_inflight is not None  # set above
        low, high = self.matmul_size
        int_at_least("matmul_size low", low, 1)
        int_at_least("matmul_size high", high, low)
        check(high <= 5000, "matmul_size high", high, "must be <= 5000 (a larger matrix would not fit a replica)")
        slow, shigh = self.sleep_seconds
        non_negative("sleep_seconds low", slow)
        non_negative("sleep_seconds high", shigh)
        check(shigh >= slow, "sleep_seconds high", shigh, f"must be >= sleep_seconds low ({slow})")
        int_at_least("max_inflight", self.max_inflight, 1)
        positive("timeout", self.timeout)
        check(parse_quantity(self.cpu_request, "cpu quantity") > 0, "cpu_request", self.cpu_request, "must be > 0")
        check(parse_quantity(self.memory_request, "memory quantity") > 0, "memory_request", self.memory_request, "must be > 0")

    @property
    def function_name(self) -> str:
        """The OpenFaaS metric label ``<name>.openfaas-fn``."""
        return f"{self.name}.{NAMESPACE}"


#: Namespace of every function's Deployment and pods, as in OpenFaaS.
NAMESPACE = "openfaas-fn"


@dataclass(frozen=True)
class ClusterSettings:
    """How the local cluster runs. Ports 0 pick free ports."""

    #: Directory for the kubeconfig, Prometheus data and replica logs; None makes a
    #: temporary one that is removed when the cluster stops.
    state_dir: Path | None = None
    api_port: int = 0
    gateway_port: int = 0
    prometheus_port: int = 0
    #: Run a Prometheus server scraping the gateway. False: bring your own (scrape
    #: ``<gateway>/metrics``); ``prometheus_url`` is then None.
    prometheus: bool = True
    #: Prometheus binary; None looks for ``prometheus`` on PATH.
    prometheus_binary: str | None = None
    #: Seconds between Prometheus scrapes of the gateway.
    scrape_interval: float = 1.0
    #: Seconds between readiness probes of a replica (Kubernetes' periodSeconds).
    probe_period: float = 0.2
    #: Seconds a terminating replica gets to drain and exit before SIGKILL.
    termination_grace: float = 5.0
    #: Seconds before a crashed replica is restarted.
    restart_delay: float = 0.5
    #: Watch events kept per resource kind; a watch from an older resourceVersion gets 410.
    watch_history: int = 1000
    #: Seconds between BOOKMARK events on watches that allow them.
    bookmark_interval: float = 60.0
    #: Seconds between CPU/memory samples of the replica processes (metrics.k8s.io window).
    metrics_resolution: float = 1.0
    #: Seconds to wait for the cluster (and each replica process) to come up.
    start_timeout: float = 60.0
    #: Most replicas one function may be scaled to (a scale above gets 422).
    max_replicas: int = 50
    #: Bearer token the API server accepts (written to the kubeconfig); None draws one.
    token: str | None = None

    def __post_init__(self) -> None:
        for name in ("api_port", "gateway_port", "prometheus_port"):
            port = getattr(self, name)
            int_at_least(name, port, 0)
            check(port <= 65535, name, port, "must be an integer port in 0..65535 (0 picks a free one)")
        for name in ("scrape_interval", "probe_period", "bookmark_interval", "metrics_resolution", "start_timeout"):
            positive(name, getattr(self, name))
        check(self.scrape_interval >= 0.1, "scrape_interval", self.scrape_interval, "must be >= 0.1 seconds")
        non_negative("termination_grace", self.termination_grace)
        non_negative("restart_delay", self.restart_delay)
        int_at_least("watch_history", self.watch_history, 1)
        int_at_least("max_replicas", self.max_replicas, 1)
        check(
            self.token is None or (isinstance(self.token, str) and re.match(r"^[\w.-]+$", self.token) is not None),
            "token", self.token, "must be letters, digits, '.', '_' or '-'",
        )
