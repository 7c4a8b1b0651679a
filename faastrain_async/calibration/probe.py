"""Requests a calibration sends itself: one at a time (the service time) and all at once (how
many one replica takes, and what the others get)."""

from __future__ import annotations

import asyncio
import time
from typing import NamedTuple

import aiohttp

from faastrain_async.calibration.measurements import Burst
from faastrain_async.errors import CalibrationError


class Request(NamedTuple):
    """What every request is: the load generator's URL, method, body and timeout."""

    url: str
    method: str
    body: str
    timeout: float


async def call(http: aiohttp.ClientSession, request: Request) -> tuple[str, float]:
    """One request: its outcome ("200", another status, "timeout" or "connection") and latency."""
    started = time.perf_counter()
    timeout = aiohttp.ClientTimeout(total=request.timeout)
    try:
        async with http.request(request.method, request.url, data=request.body.encode(), timeout=timeout) as response:
            await response.read()
            outcome = str(response.status)
    except TimeoutError:
        outcome = "timeout"
    except aiohttp.ClientError:
        outcome = "connection"
    return outcome, time.perf_counter() - started


async def one_at_a_time(http: aiohttp.ClientSession, request: Request, count: int) -> tuple[float, ...]:
    """Latencies of ``count`` requests sent one after the other; every one must succeed."""
    latencies = []
    for _ in range(count):
        outcome, latency = await call(http, request)
        if outcome != "200":
            raise CalibrationError(
                f"a request sent alone to {request.url} failed ({outcome}); the function must answer 200 when idle"
            )
        latencies.append(latency)
    return tuple(latencies)


async def burst(http: aiohttp.ClientSession, request: Request, size: int) -> Burst:
    """``size`` requests sent at once."""
    results = await asyncio.gather(*(call(http, request) for _ in range(size)))
    return Burst(tuple(results))
