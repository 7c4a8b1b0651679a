"""Settings of the local cluster: the functions it serves and how the cluster behaves.

Plain frozen values checked when built; the CLI builds them from its flags.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from faastrain_async.errors import ConfigError

#: Kinds of function built in; anything else must be a ``module:function`` handler.
BUILTIN_KINDS: tuple[str, ...] = ("matmul", "sleep")

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_HANDLER = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_CPU = re.compile(r"^(\d+(\.\d+)?)(m|u|n)?$")
_MEMORY = re.compile(r"^(\d+)(Ki|Mi|Gi|K|M|G)?$")
_MEMORY_UNITS = {None: 1, "K": 1000, "M": 1000**2, "G": 1000**3, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}
_CPU_UNITS = {None: 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


def _fail(name: str, value: object, allowed: str) -> None:
    raise ConfigError(f"{name}={value!r} is not valid: {allowed}")


def _finite(name: str, value: float, low: float, *, strict: bool) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < low or (strict and value == low):
        _fail(name, value, f"must be a finite number {'>' if strict else '>='} {low}")


def _int_at_least(name: str, value: int, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        _fail(name, value, f"must be an integer >= {low}")


def parse_cpu(quantity: str) -> float:
    """Cores in a Kubernetes CPU quantity ("100m", "0.5", "250000000n")."""
    match = _CPU.match(quantity) if isinstance(quantity, str) else None
    if match is None:
        raise ConfigError(f"cpu quantity {quantity!r} is not valid: use cores (\"0.5\") or millicores (\"100m\")")
    return float(match.group(1)) * _CPU_UNITS[match.group(3)]


def parse_memory(quantity: str) -> int:
    """Bytes in a Kubernetes memory quantity ("128Mi", "1Gi", "500M", "1048576")."""
    match = _MEMORY.match(quantity) if isinstance(quantity, str) else None
    if match is None:
        raise ConfigError(f"memory quantity {quantity!r} is not valid: use an integer with Ki, Mi, Gi, K, M or G")
    return int(match.group(1)) * _MEMORY_UNITS[match.group(2)]


@dataclass(frozen=True)
class FunctionSpec:
    """One function the cluster serves, as its own Deployment in ``openfaas-fn``."""

    #: Function (and Deployment) name, a DNS-1123 label; pods carry ``faas_function=<name>``.
    name: str = "matmul"
    #: "matmul", "sleep", or a handler of your own as "module:function" (called with the
    #: request body as bytes; may be async; returns bytes, str, or a JSON-serialisable value).
    kind: str = "matmul"
    #: Replicas the Deployment starts with.
    replicas: int = 1
    #: Extra seconds a new replica process stays not ready after it starts (function init).
    cold_start: float = 0.0
    #: matmul: the matrix side is drawn uniformly from [low, high] per request (low == high: fixed).
    matmul_size: tuple[int, int] = (100, 300)
    #: sleep: the latency is drawn uniformly from [low, high] seconds per request.
    sleep_seconds: tuple[float, float] = (0.1, 0.1)
    #: Requests a replica runs at once; more are answered 429 (the watchdog's max_inflight).
    max_inflight: int = 8
    #: Seconds a call may take, in the replica and the gateway (504 after).
    timeout: float = 10.0
    #: CPU and memory requests declared on the Deployment.
    cpu_request: str = "100m"
    memory_request: str = "128Mi"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _DNS_LABEL.match(self.name):
            _fail("function name", self.name, "must be a DNS-1123 label (lower-case letters, digits and '-', at most 63)")
        if self.kind not in BUILTIN_KINDS and not (isinstance(self.kind, str) and _HANDLER.match(self.kind)):
            _fail("function kind", self.kind, f"must be one of {', '.join(BUILTIN_KINDS)} or 'module:function'")
        _int_at_least("replicas", self.replicas, 0)
        _finite("cold_start", self.cold_start, 0.0, strict=False)
        low, high = self.matmul_size
        _int_at_least("matmul_size low", low, 1)
        _int_at_least("matmul_size high", high, low)
        if high > 5000:
            _fail("matmul_size high", high, "must be <= 5000 (a larger matrix would not fit a replica)")
        slow, shigh = self.sleep_seconds
        _finite("sleep_seconds low", slow, 0.0, strict=False)
        _finite("sleep_seconds high", shigh, slow, strict=False)
        _int_at_least("max_inflight", self.max_inflight, 1)
        _finite("timeout", self.timeout, 0.0, strict=True)
        if parse_cpu(self.cpu_request) <= 0:
            _fail("cpu_request", self.cpu_request, "must be > 0")
        if parse_memory(self.memory_request) <= 0:
            _fail("memory_request", self.memory_request, "must be > 0")

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
            if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
                _fail(name, port, "must be an integer port in 0..65535 (0 picks a free one)")
        for name in ("scrape_interval", "probe_period", "bookmark_interval", "metrics_resolution", "start_timeout"):
            _finite(name, getattr(self, name), 0.0, strict=True)
        if self.scrape_interval < 0.1:
            _fail("scrape_interval", self.scrape_interval, "must be >= 0.1 seconds")
        _finite("termination_grace", self.termination_grace, 0.0, strict=False)
        _finite("restart_delay", self.restart_delay, 0.0, strict=False)
        _int_at_least("watch_history", self.watch_history, 1)
        _int_at_least("max_replicas", self.max_replicas, 1)
        if self.token is not None and (not isinstance(self.token, str) or not re.match(r"^[\w.-]+$", self.token)):
            _fail("token", self.token, "must be letters, digits, '.', '_' or '-'")
