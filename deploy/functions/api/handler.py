"""``api``: a typical web API call as an OpenFaaS function.

Each request first waits on a "downstream call" (a sleep drawn uniformly from
``[API_MIN_WAIT, API_MAX_WAIT]`` seconds, using no CPU), then multiplies two random square
matrices whose side is drawn uniformly from ``[API_MIN_SIZE, API_MAX_SIZE]``: about 0.2 s
of latency and a few milliseconds of CPU, like the local cluster's built-in ``api`` kind.
The of-watchdog's ``max_inflight`` (stack.yml) lets a replica run two at a time and answers
429 to more, so the function needs more replicas as the load grows.

The response is JSON: ``{"waited": ..., "n": ..., "trace": ...}``; ``trace`` is the trace of
the product (returned so the work cannot be optimised away).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np

_rng = np.random.default_rng()


def _setting(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def call() -> dict[str, float | int]:
    """Wait, then multiply; what was done."""
    waited = float(_rng.uniform(_setting("API_MIN_WAIT", 0.15), _setting("API_MAX_WAIT", 0.25)))
    time.sleep(waited)
    n = int(_rng.integers(int(_setting("API_MIN_SIZE", 200)), int(_setting("API_MAX_SIZE", 400)), endpoint=True))
    a = _rng.random((n, n))
    b = _rng.random((n, n))
    return {"waited": waited, "n": n, "trace": float(np.trace(a @ b))}


def handle(event: Any, context: Any) -> dict[str, Any]:
    """Entry point of the python3-http template."""
    return {"statusCode": 200, "body": json.dumps(call()), "headers": {"Content-Type": "application/json"}}
