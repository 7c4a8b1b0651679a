"""A real Prometheus server, run as a child process that scrapes the gateway.

It gets a generated configuration, its own data directory and a 127.0.0.1 address; it
dies with the cluster process (PR_SET_PDEATHSIG), carries the cluster's mark in its
environment, and can be stopped and started again on the same address and data (fault
injection).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import aiohttp
import yaml

from faastrain_async.local.errors import LocalClusterError, PrometheusNotFound
from faastrain_async.local.pods import terminate
from faastrain_async.logger import get_logger
from loadgen.lifeline import die_with_parent

log = get_logger(__name__)

#: Seconds Prometheus gets to exit after SIGTERM before SIGKILL.
STOP_GRACE = 10.0
INSTALL_HINT = (
    "install it (Debian/Ubuntu: `apt-get install -y prometheus`; elsewhere a release from "
    "https://prometheus.io/download/), or pass the binary's path (--prometheus-binary / "
    "ClusterSettings(prometheus_binary=...)), or run without one (--no-prometheus / "
    "ClusterSettings(prometheus=False)) and point your own Prometheus at the gateway's /metrics"
)


def find_prometheus(binary: str | None) -> str:
    """The path of the Prometheus binary; PrometheusNotFound says how to get one."""
    if binary is not None:
        path = Path(binary)
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        found = shutil.which(binary)
        if found is None:
            raise PrometheusNotFound(f"prometheus_binary={binary!r} is not an executable file; {INSTALL_HINT}")
        return found
    found = shutil.which("prometheus")
    if found is None:
        raise PrometheusNotFound(f"no `prometheus` binary on PATH; {INSTALL_HINT}")
    return found


def _duration(seconds: float) -> str:
    return f"{int(round(seconds * 1000))}ms"


def write_config(path: Path, *, gateway: str, scrape_interval: float) -> None:
    """Write a configuration that scrapes the gateway every ``scrape_interval`` seconds."""
    interval = _duration(scrape_interval)
    config = {
        "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
        "scrape_configs": [{"job_name": "gateway", "static_configs": [{"targets": [gateway]}]}],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))


class PrometheusServer:
    """One Prometheus process: ``start()``, ``stop()``, ``url``."""

    def __init__(
        self, *, binary: str, port: int, state_dir: Path, gateway: str, scrape_interval: float, timeout: float, env: dict[str, str]
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._binary = binary
        self._dir = state_dir
        self._gateway = gateway
        self._scrape_interval = scrape_interval
        self._timeout = timeout
        self._env = env
        self._process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.returncode is None else None

    async def start(self) -> None:
        """Start Prometheus and return once it is ready and has scraped the gateway."""
        if self.pid is not None:
            return
        self._dir.mkdir(parents=True, exist_ok=True)
        config = self._dir / "prometheus.yml"
        write_config(config, gateway=self._gateway, scrape_interval=self._scrape_interval)
        log_path = self._dir / "prometheus.log"
        with open(log_path, "ab") as output:
            self._process = await asyncio.create_subprocess_exec(
                self._binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={self._dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1d",
                "--log.level=warn",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
                preexec_fn=die_with_parent,
                cwd=self._dir,
                env=self._env,
            )
        try:
            await self._wait_scraped(log_path)
        except BaseException:
            await self.stop()
            raise
        log.info("prometheus ready", url=self.url, pid=self._process.pid)

    async def _wait_scraped(self, log_path: Path) -> None:
        deadline = time.monotonic() + self._timeout
        query = f"{self.url}/api/v1/query"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                assert self._process is not None
                if self._process.returncode is not None:
                    tail = log_path.read_text(errors="replace")[-2000:]
                    raise LocalClusterError(f"prometheus exited with code {self._process.returncode}; its log ends:\n{tail}")
                try:
                    async with http.get(query, params={"query": 'up{job="gateway"}'}) as response:
                        if response.status == 200:
                            result = (await response.json())["data"]["result"]
                            if result and result[0]["value"][1] == "1":
                                return
                except (aiohttp.ClientError, TimeoutError):
                    pass  # not listening yet; the deadline bounds the wait
                await asyncio.sleep(0.1)
        raise LocalClusterError(f"prometheus at {self.url} did not scrape the gateway within {self._timeout}s (log: {log_path})")

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after STOP_GRACE seconds."""
        process, self._process = self._process, None
        if process is not None:
            await terminate(process, STOP_GRACE, "prometheus")
