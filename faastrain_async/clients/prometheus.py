"""PromQL over aiohttp, for the step path (instant queries, concurrent, bounded, retried)."""

from __future__ import annotations

import asyncio
import json
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
#: One series of a range selector: its labels and its raw (unix time, value) samples, oldest first.
Series = tuple[dict[str, str], list[tuple[float, float]]]

#: Characters of an unreadable answer quoted in the error (an HTML page can be long).
QUOTE_CHARS = 200


def quote(text: str) -> str:
    """``text`` cut to :data:`QUOTE_CHARS` characters, as an error message quotes an answer."""
    return repr(text[:QUOTE_CHARS] + ("..." if len(text) > QUOTE_CHARS else ""))


class PrometheusClient:
    """Instant queries against ``/api/v1/query``.

    Every query has ``timeout`` seconds; a connection error, a timeout or a 5xx is retried
    ``retries`` times with exponential backoff (``backoff`` first, at most ``backoff_max``,
    with jitter); what still fails raises :class:`MetricsUnavailable` naming the query. So
    does an answer that is not Prometheus' JSON (HTML, a list, ``status`` other than
    ``success``, a value that is not a number, no ``data``): the error quotes its start.
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
        """The instant vector (or scalar) of ``expr`` evaluated at unix time ``at``: (labels, value) pairs."""
        kind, result = await self._data(expr, at)
        try:
            if kind == "scalar":
                return [({}, _number(result[1]))]
            if kind == "vector":
                return [(_labels(sample["metric"]), _number(sample["value"][1])) for sample in result]
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise self._unreadable(expr, result, e) from None
        raise MetricsUnavailable(f"Prometheus at {self.url} answered {expr!r} with a {kind}, not a vector")

    async def samples(self, expr: str, at: float) -> list[Series]:
        """The raw samples of a range selector ``expr`` (such as ``x[90s]``) up to unix time ``at``."""
        kind, result = await self._data(expr, at)
        if kind != "matrix":
            raise MetricsUnavailable(f"Prometheus at {self.url} answered {expr!r} with a {kind}, not a range of samples")
        try:
            return [
                (_labels(series["metric"]), [(_number(t), _number(v)) for t, v in series["values"]])
                for series in result
            ]
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise self._unreadable(expr, result, e) from None

    async def _data(self, expr: str, at: float) -> tuple[str, Any]:
        """The ``resultType`` and ``result`` of an answer, after retries; MetricsUnavailable otherwise."""
        last: BaseException | None = None
        for attempt in range(self._retries + 1):
            if attempt:
                await asyncio.sleep(backoff_delay(attempt, self._backoff, self._backoff_max, random.random()))
            try:
                return await self._data_once(expr, at)
            except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError) as e:
                last = e
                status = getattr(e, "status", None)
                if status is not None and 400 <= status < 500:
                    break  # a bad query does not get better
                log.warning("prometheus retry", attempt=attempt + 1, error=repr(e))
        raise MetricsUnavailable(f"Prometheus at {self.url} could not answer {expr!r}: {last!r}") from last

    async def _data_once(self, expr: str, at: float) -> tuple[str, Any]:
        params = {"query": expr, "time": f"{at:.3f}"}
        async with self._session.get(f"{self.url}/api/v1/query", params=params, timeout=self._timeout) as response:
            if response.status >= 500:
                response.raise_for_status()
            text = await response.text(errors="replace")
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise MetricsUnavailable(
                f"Prometheus at {self.url} answered {expr!r} with something that is not its JSON "
                f"(HTTP {response.status}): {quote(text)}"
            )
        if body.get("status") != "success":
            reason = f"{body.get('errorType', '?')}: {body['error']}" if "error" in body else quote(text)
            raise MetricsUnavailable(f"Prometheus at {self.url} rejected {expr!r} (HTTP {response.status}): {reason}")
        data = body.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("resultType"), str) or "result" not in data:
            raise MetricsUnavailable(f"Prometheus at {self.url} answered {expr!r} without a result: {quote(text)}")
        return data["resultType"], data["result"]

    def _unreadable(self, expr: str, result: Any, error: BaseException) -> MetricsUnavailable:
        return MetricsUnavailable(
            f"Prometheus at {self.url} answered {expr!r} with a result that cannot be read ({error!r}): {quote(json.dumps(result))}"
        )

    async def query_all(self, exprs: Mapping[str, str], at: float) -> dict[str, list[Sample]]:
        """All of ``exprs`` in one concurrent round; the first failure cancels the rest and is raised."""
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = {name: tg.create_task(self.query(expr, at), name=f"promql-{name}") for name, expr in exprs.items()}
        except BaseExceptionGroup as group:
            raise group.exceptions[0] from None
        return {name: task.result() for name, task in tasks.items()}


def _number(value: Any) -> float:
    """A sample's value or time; Prometheus writes values as strings ("12.5", "NaN", "+Inf")."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TypeError(f"{value!r} is not a number")
    return float(value)


def _labels(metric: Any) -> dict[str, str]:
    if not isinstance(metric, dict):
        raise TypeError(f"labels {metric!r} are not a mapping")
    return {str(k): str(v) for k, v in metric.items()}


def single(samples: list[Sample], what: str) -> float | None:
    """The one value of an aggregated query; None for an empty vector or NaN."""
    if not samples:
        return None
    if len(samples) > 1:
        raise MetricsUnavailable(f"{what}: expected one series, got {len(samples)}")
    value = samples[0][1]
    return None if math.isnan(value) else value
