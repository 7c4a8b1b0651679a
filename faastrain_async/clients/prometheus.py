"""PromQL over aiohttp, for the step path (instant queries, concurrent, bounded, retried)."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Mapping
from typing import Any

import aiohttp

from faastrain_async.backoff import backoff_delay
from faastrain_async.errors import MetricsUnavailable
from faastrain_async.logger import get_logger

log = get_logger(__name__)

Sample = tuple[dict[str, str], float]


class PrometheusClient:
    """Instant queries against ``/api/v1/query``.

    Every query has ``timeout`` seconds; a connection error, a timeout or a 5xx is retried
    ``retries`` times with exponential backoff (``backoff`` first, at most ``backoff_max``,
    with jitter); what still fails raises :class:`MetricsUnavailable` naming the query.
    """

    def __init__(
        self,
        url: str,
        session: aiohttp.ClientSession,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.2,
        backoff_max: float = 5.0,
    ) -> None:
        self.url = url.rstrip("/")
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._retries = retries
        self._backoff = backoff
        self._backoff_max = backoff_max

    async def query(self, expr: str, at: float) -> list[Sample]:
        """The instant vector of ``expr`` evaluated at unix time ``at``: (labels, value) pairs."""
        last: BaseException | None = None
        for attempt in range(self._retries + 1):
            if attempt:
                await asyncio.sleep(backoff_delay(attempt, self._backoff, self._backoff_max, random.random()))
            try:
                return await self._query_once(expr, at)
            except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError) as e:
                last = e
                status = getattr(e, "status", None)
                if status is not None and 400 <= status < 500:
                    break  # a bad query does not get better
                log.warning("prometheus retry", attempt=attempt + 1, error=repr(e))
        raise MetricsUnavailable(f"Prometheus at {self.url} could not answer {expr!r}: {last!r}") from last

    async def _query_once(self, expr: str, at: float) -> list[Sample]:
        params = {"query": expr, "time": f"{at:.3f}"}
        async with self._session.get(f"{self.url}/api/v1/query", params=params, timeout=self._timeout) as response:
            if response.status >= 500:
                response.raise_for_status()
            body: dict[str, Any] = await response.json(content_type=None)
        if body.get("status") != "success":
            raise MetricsUnavailable(
                f"Prometheus rejected {expr!r}: {body.get('errorType', '?')}: {body.get('error', body)}"
            )
        data = body["data"]
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        if data["resultType"] != "vector":
            raise MetricsUnavailable(f"Prometheus answered {expr!r} with a {data['resultType']}, not a vector")
        return [(sample["metric"], float(sample["value"][1])) for sample in data["result"]]

    async def query_all(self, exprs: Mapping[str, str], at: float) -> dict[str, list[Sample]]:
        """All of ``exprs`` in one concurrent round; the first failure cancels the rest and is raised."""
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = {name: tg.create_task(self.query(expr, at), name=f"promql-{name}") for name, expr in exprs.items()}
        except BaseExceptionGroup as group:
            raise group.exceptions[0] from None
        return {name: task.result() for name, task in tasks.items()}


def single(samples: list[Sample], what: str) -> float | None:
    """The one value of an aggregated query; None for an empty vector or NaN."""
    if not samples:
        return None
    if len(samples) > 1:
        raise MetricsUnavailable(f"{what}: expected one series, got {len(samples)}")
    value = samples[0][1]
    return None if math.isnan(value) else value
