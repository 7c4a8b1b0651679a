"""The functions a replica serves: built-in ``api``, ``matmul`` and ``sleep``, or a user's handler.

A handler takes the request body (bytes) and returns bytes, str or a JSON-serialisable
value; it may be a coroutine function. Sync handlers run in a worker thread, so a CPU-bound
one (matmul: numpy releases the GIL) does not stall the replica's health endpoint.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import random
from collections.abc import Callable
from typing import Any

from faastrain_async.errors import ConfigError

Handler = Callable[[bytes], Any]


def _json_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def make_matmul(low: int, high: int, seed: int | None = None) -> Handler:
    """Multiply two random n×n matrices, n uniform in [low, high] (or the body's ``{"n": n}``,
    clamped to [1, high])."""
    import numpy as np  # only replicas that serve matmul pay for numpy

    rng = random.Random(seed)

    def matmul(body: bytes) -> dict[str, Any]:
        asked = _json_body(body).get("n")
        if isinstance(asked, int) and not isinstance(asked, bool):
            n = min(max(asked, 1), high)
        else:
            n = rng.randint(low, high)
        generator = np.random.default_rng(rng.getrandbits(32))
        a = generator.random((n, n))
        b = generator.random((n, n))
        return {"n": n, "trace": float(np.trace(a @ b))}

    return matmul


def make_sleep(low: float, high: float, seed: int | None = None) -> Handler:
    """Answer after a latency uniform in [low, high] seconds, without using CPU."""
    rng = random.Random(seed)

    async def sleep(body: bytes) -> dict[str, Any]:
        seconds = rng.uniform(low, high)
        await asyncio.sleep(seconds)
        return {"slept": seconds}

    return sleep


def make_api(sleep: tuple[float, float], size: tuple[int, int], seed: int | None = None) -> Handler:
    """A typical web API call: wait on a downstream call (uniform in ``sleep`` seconds, no
    CPU), then multiply two small random matrices (side uniform in ``size``) in a worker thread."""
    rng = random.Random(seed)
    multiply = make_matmul(*size, seed=seed)

    async def api(body: bytes) -> dict[str, Any]:
        waited = rng.uniform(*sleep)
        await asyncio.sleep(waited)
        result = await asyncio.to_thread(multiply, body)
        return {"waited": waited, **result}

    return api


def load_handler(reference: str) -> Handler:
    """Import ``module:function`` and return the callable; ConfigError if it is not one."""
    module_name, _, attribute = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"handler {reference!r}: module {module_name!r} cannot be imported ({exc})") from exc
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise ConfigError(f"handler {reference!r}: {module_name} has no callable {attribute!r}")
    return handler


def build_handler(kind: str, *, matmul_size: tuple[int, int], sleep_seconds: tuple[float, float]) -> Handler:
    """The handler of a function kind ("api", "matmul", "sleep" or "module:function")."""
    if kind == "api":
        return make_api(sleep_seconds, matmul_size)
    if kind == "matmul":
        return make_matmul(*matmul_size)
    if kind == "sleep":
        return make_sleep(*sleep_seconds)
    return load_handler(kind)


async def call_handler(handler: Handler, body: bytes) -> tuple[bytes, str]:
    """Run ``handler`` on ``body`` (in a thread when it is sync); its encoded result and
    content type."""
    if inspect.iscoroutinefunction(handler):
        result = await handler(body)
    else:
        result = await asyncio.to_thread(handler, body)
        if inspect.isawaitable(result):
            result = await result
    return encode_result(result)


def encode_result(result: Any) -> tuple[bytes, str]:
    """bytes pass through, str is UTF-8 text, anything else becomes JSON."""
    if isinstance(result, bytes):
        return result, "application/octet-stream"
    if isinstance(result, str):
        return result.encode(), "text/plain; charset=utf-8"
    return json.dumps(result).encode(), "application/json"


__all__ = ["Handler", "build_handler", "call_handler", "load_handler", "make_api", "make_matmul", "make_sleep"]
