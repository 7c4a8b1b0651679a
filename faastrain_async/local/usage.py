"""CPU and memory use of the replica processes, measured with psutil.

A sampler reads each running replica's CPU time and resident memory every
``metrics_resolution`` seconds; the CPU rate over the last interval is what
metrics.k8s.io reports (metrics-server does the same over cAdvisor samples).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import psutil

from faastrain_async.local.objects import Pod, timestamp
from faastrain_async.local.settings import NAMESPACE
from faastrain_async.logger import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class Usage:
    """One pod's use: cumulative CPU seconds, CPU rate (cores) over ``window``, memory bytes."""

    cpu_seconds: float
    cores: float
    memory: int
    sampled: float
    window: float


def cpu_quantity(cores: float) -> str:
    """A CPU rate as Kubernetes writes it in metrics.k8s.io (nanocores)."""
    return f"{max(int(round(cores * 1e9)), 0)}n"


def memory_quantity(size: int) -> str:
    """A memory size as Kubernetes writes it in metrics.k8s.io (KiB)."""
    return f"{max(size, 0) // 1024}Ki"


def pod_metrics(pod: Pod, usage: Usage) -> dict[str, Any]:
    """The metrics.k8s.io/v1beta1 PodMetrics of ``pod``."""
    return {
        "kind": "PodMetrics",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {"name": pod.name, "namespace": NAMESPACE, "labels": pod.labels, "creationTimestamp": timestamp()},
        "timestamp": timestamp(usage.sampled),
        "window": f"{usage.window:.3f}s",
        "containers": [{"name": pod.spec.name, "usage": {"cpu": cpu_quantity(usage.cores), "memory": memory_quantity(usage.memory)}}],
    }


class UsageSampler:
    """Samples every running replica; ``usage[pod_name]`` is the latest sample."""

    def __init__(self, pods: dict[str, Pod], resolution: float) -> None:
        self.usage: dict[str, Usage] = {}
        self._pods = pods
        self._resolution = resolution
        self._processes: dict[str, psutil.Process] = {}
        self._last: dict[str, tuple[int, float, float]] = {}

    def read(self, pod: Pod) -> tuple[float, int] | None:
        """(CPU seconds, resident bytes) of ``pod``'s process now, or None if it has none."""
        pid = pod.pid
        if pid is None:
            return None
        process = self._processes.get(pod.name)
        if process is None or process.pid != pid:
            try:
                process = psutil.Process(pid)
            except psutil.NoSuchProcess:
                return None
            self._processes[pod.name] = process
        try:
            with process.oneshot():
                times = process.cpu_times()
                memory = process.memory_info().rss
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            # It exited between our look and the read; the runner will report the exit.
            return None
        return times.user + times.system, memory

    def sample(self) -> None:
        now = time.monotonic()
        for name in [n for n in self.usage if n not in self._pods]:
            self.usage.pop(name, None)
            self._last.pop(name, None)
            self._processes.pop(name, None)
        for name, pod in list(self._pods.items()):
            reading = self.read(pod)
            if reading is None:
                continue
            cpu, memory = reading
            last = self._last.get(name)
            self._last[name] = (pod.pid or 0, cpu, now)
            if last is None or last[0] != pod.pid or now <= last[2]:
                continue  # a rate needs two samples of the same process
            window = now - last[2]
            self.usage[name] = Usage(cpu, max(cpu - last[1], 0.0) / window, memory, time.time(), window)

    async def run(self) -> None:
        """Sample until cancelled."""
        while True:
            self.sample()
            await asyncio.sleep(self._resolution)
