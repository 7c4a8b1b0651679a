"""Requests a calibration sends itself: one at a time (the service time) and all at once (how
many one replica takes, and what the others get)."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from faastrain_async.calibration.measurements import Burst
from faastrain_async.errors import CalibrationError


async def call(http: aiohttp.ClientSession, url: str, body: str, timeout: float) -> tuple[str, float]:
    """One POST: its outcome ("200", another status, "timeout" or "connection") and latency."""
    started = time.perf_counter()
    try:
        async with http.post(url, data=body.encode(), timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            await response.read()
            outcome = str(response.status)
    except TimeoutError:
        outcome = "timeout"
    except aiohttp.ClientError:
        outcome = "connection"
    return outcome, time.perf_counter() - started


async def one_at_a_time(http: aiohttp.ClientSession, url: str, body: str, count: int, timeout: float) -> tuple[float, ...]:
    """Latencies of ``count`` requests sent one after the other; every one must succeed."""
    latencies = []
    for _ in range(count):
        outcome, latency = await call(http, url, body, timeout)
        if outcome != "200":
            raise CalibrationError(f"a request sent alone to {url} failed ({outcome}); the function must answer 200 when idle")
        latencies.append(latency)
    return tuple(latencies)


async def burst(http: aiohttp.ClientSession, url: str, body: str, size: int, timeout: float) -> Burst:
    """``size`` requests sent at once."""
    results = await asyncio.gather(*(call(http, url, body, timeout) for _ in range(size)))
    return Burst(tuple(results))
