"""``matmul``: multiply two random square matrices; a CPU-bound OpenFaaS function.

The size ``n`` of the matrices comes from the request body, either a bare integer
(``256``) or JSON (``{"n": 256}``); with an empty body it is drawn uniformly from
``[MATMUL_MIN_SIZE, MATMUL_MAX_SIZE]``. Sizes above ``MATMUL_SIZE_LIMIT`` are refused
with 400 so one request cannot exhaust the pod's memory.

The response is JSON: ``{"n": ..., "seconds": ..., "trace": ...}``, where ``seconds``
is the time of the multiplication alone and ``trace`` the trace of the product
(returned so the work cannot be optimised away, and to check results).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np

_rng = np.random.default_rng()


def _setting(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def matrix_size(body: bytes | str | None) -> int:
    """The size a request asks for, or a random one; ValueError if it is not valid."""
    text = body.decode() if isinstance(body, bytes) else (body or "")
    text = text.strip()
    limit = _setting("MATMUL_SIZE_LIMIT", 1024)
    if not text:
        low = _setting("MATMUL_MIN_SIZE", 128)
        high = _setting("MATMUL_MAX_SIZE", 512)
        return int(_rng.integers(low, high, endpoint=True))
    value: Any = json.loads(text)
    if isinstance(value, dict):
        value = value.get("n", value.get("size"))
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer size or {{\"n\": <int>}}, got {text[:80]!r}")
    if not 1 <= value <= limit:
        raise ValueError(f"size must be in [1, {limit}], got {value}")
    return value


def multiply(n: int) -> dict[str, float | int]:
    """Multiply two random n×n matrices; the size, the seconds it took and the trace."""
    a = _rng.random((n, n))
    b = _rng.random((n, n))
    start = time.perf_counter()
    product = a @ b
    seconds = time.perf_counter() - start
    return {"n": n, "seconds": seconds, "trace": float(np.trace(product))}


def handle(event: Any, context: Any) -> dict[str, Any]:
    """Entry point of the python3-http template."""
    try:
        n = matrix_size(getattr(event, "body", b""))
    except (ValueError, UnicodeDecodeError) as e:
        return {"statusCode": 400, "body": json.dumps({"error": str(e)}),
                "headers": {"Content-Type": "application/json"}}
    return {"statusCode": 200, "body": json.dumps(multiply(n)),
            "headers": {"Content-Type": "application/json"}}
