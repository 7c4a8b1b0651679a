"""One calibration from a cluster to its file's content: connect, measure, fit, say where from."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable

import faastrain_async
from faastrain_async.backends.kubernetes import KubernetesBackend, KubernetesSettings
from faastrain_async.calibration.experiment import Experiment
from faastrain_async.calibration.file import Calibration
from faastrain_async.calibration.parameters import fit_parameters
from faastrain_async.calibration.plan import Plan
from loadgen.profiles import as_workload

#: The backend's own workload is never started: the experiment runs its own load levels.
UNUSED_PROFILE = "constant:rate=1"


async def calibrate(
    settings: KubernetesSettings, plan: Plan, *, command: str, progress: Callable[[str], None], attached: bool = False
) -> Calibration:
    """Measure the function ``settings`` name on its cluster (the bundled local one when
    ``settings.local_cluster``; ``attached``: a local one already running) and fit it."""
    started = time.time()
    backend = KubernetesBackend(settings, as_workload(UNUSED_PROFILE))
    try:
        await backend.connect()
        s = backend.settings
        progress(f"cluster: API server {backend.api_url}, gateway {s.gateway_url}, Prometheus {s.prometheus_url}")
        measurements = await Experiment(backend, plan, progress).run()
    finally:
        await backend.aclose()
    progress("fitting")
    parameters = fit_parameters(measurements)
    source = {
        "cluster": "local" if settings.local_cluster or attached else "kubernetes",
        "api_server": backend.api_url or "",
        "function": s.function,
        "namespace": s.namespace,
        "time": dt.datetime.fromtimestamp(started, dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "faastrain_version": faastrain_async.__version__,
        "duration_s": round(time.time() - started, 1),
        "plan": plan.name,
        "gateway": s.gateway_url,
        "prometheus": s.prometheus_url,
        "resource_metrics": s.resource_metrics,
        "cpu_count": os.cpu_count(),
    }
    return Calibration(source, parameters, measurements.to_json())
