"""The workload against the gateway: the load-generator subprocess as the backend's LoadDriver."""

from __future__ import annotations

import asyncio
import time

from faastrain_async.backends.kubernetes.settings import KubernetesSettings
from faastrain_async.clients.loadgen import LoadGenerator, LoadGenSettings
from faastrain_async.errors import LoadGeneratorError
from faastrain_async.events import LoadReport

#: Seconds to wait for a first statistics line inside a window (lines come ~1.5 s late).
LATE_STATISTICS = 5.0


class GatewayLoad:
    """Drives a concrete profile against ``<gateway>/function/<name>`` with the Locust load generator."""

    def __init__(self, settings: KubernetesSettings, profile: str) -> None:
        self.settings = settings
        self.profile = profile
        self.generator: LoadGenerator | None = None
        self._switch = asyncio.Lock()  # held while one generator gives way to the next

    async def play(self, profile: str, seed: int = 0) -> None:
        """Run ``profile`` (a concrete spec): start the generator, or restart it on another profile.

        The same profile goes on as it is (its schedule, begun at an earlier reset, continues).
        """
        if self.generator is not None and profile == self.profile:
            return
        async with self._switch:
            old, self.generator = self.generator, None
            if old is not None:
                await old.stop()
            self.profile = profile
            await self.start(seed)

    async def start(self, seed: int = 0) -> None:
        if self.generator is not None:
            return
        s = self.settings
        self.generator = LoadGenerator(
            LoadGenSettings(
                url=f"{s.gateway_url}/function/{s.function}", profile=self.profile, seed=seed,
                timeout=s.load_timeout, method=s.load_method, body=s.load_body, workers=s.load_workers,
            )
        )
        await self.generator.start()
        # The generator's schedule begins at a whole second a little ahead; measuring starts then.
        assert self.generator.started is not None
        wait = self.generator.started.t0 - time.time()
        if wait > 0:
            await asyncio.sleep(wait)

    def _running(self) -> LoadGenerator:
        if self.generator is None:
            raise LoadGeneratorError("the load generator has not been started (reset the env first)")
        return self.generator

    async def watch(self) -> None:
        """Follow the generator; when :meth:`play` replaces it, follow the new one."""
        while True:
            generator = self._running()
            await generator.watch()
            async with self._switch:  # a replacement in progress finishes first
                if generator is self.generator:
                    return

    async def report(self, start: float, end: float) -> LoadReport:
        generator = self._running()
        deadline = time.time() + LATE_STATISTICS
        # The generator's line for a second comes about 1.5 s after it; waiting for the last
        # one would add that to every step, so the report covers the seconds already in
        # (all but the window's last one or two) and waits only when none is.
        while (generator.latest is None or generator.latest.t + 0.5 < start) and time.time() < deadline:
            await generator.next_second(timeout=max(0.1, deadline - time.time()))
        return generator.report(start, end)

    async def stop(self) -> None:
        if self.generator is not None:
            await self.generator.stop()
