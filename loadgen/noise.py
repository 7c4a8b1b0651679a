"""Counter-based random numbers: a uniform number for every ``(key, slot, stream)``.

A workload with random events (surges, switches, bursts) must answer ``rate(t)`` for any
``t``, in any order, the same every time, and a batch of thousands of them must not store
their histories. So nothing is drawn ahead: the random numbers of time slot ``slot`` are a
hash of the profile's ``key``, the slot's index and a stream number, computed when asked
(SplitMix64's finaliser, whose output passes the usual statistical test batteries). Keys,
slots and streams may be numpy arrays; they broadcast like any numpy arithmetic.

This module has no Locust import.
"""

from __future__ import annotations

import numpy as np

__all__ = ["KEY_LIMIT", "uniform", "irwin_hall", "value_noise"]

#: Keys are integers in ``[0, KEY_LIMIT)``: exact as float64, so a batch keeps them in a float column.
KEY_LIMIT = 2**32

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_SLOT = np.uint64(0xD6E8FEB86659FD93)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)


def _mix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def uniform(key: object, slot: object, stream: int) -> np.ndarray:
    """A uniform number in ``[0, 1)`` for each ``(key, slot)``; independent across streams.

    ``key`` holds integers below :data:`KEY_LIMIT` (ints or floats), ``slot`` any integers
    (negative too, as floats or ints). Always answers an array (0-d for scalars).
    """
    k = np.asarray(key).astype(np.uint64)
    s = np.asarray(slot).astype(np.int64).astype(np.uint64)  # negative slots wrap: still distinct
    with np.errstate(over="ignore"):  # the hash multiplies modulo 2**64 on purpose
        z = _mix(k * _GOLDEN + np.uint64(stream + 1))
        z = _mix(z ^ (s * _SLOT + _GOLDEN))
    return np.asarray((z >> _S11).astype(np.float64) * 2.0**-53)


def irwin_hall(key: object, slot: object, stream: int) -> np.ndarray:
    """A standard, nearly normal number per ``(key, slot)``: the sum of four uniforms, rescaled.

    Mean 0, variance 1, bounded by ±2√3, so a profile built on it has a finite peak. Uses
    streams ``stream`` to ``stream + 3``.
    """
    total = sum(uniform(key, slot, stream + i) for i in range(4))
    return np.asarray((total - 2.0) * np.sqrt(3.0))


def value_noise(key: object, t: object, spacing: object, stream: int = 0) -> np.ndarray:
    """Smooth noise of mean 0 and variance 1 at each knot, bounded by ±√3.

    Knots ``spacing`` seconds apart carry uniform values on ``[-√3, √3]``; between knots the
    value follows a cosine ease from one to the next, so the noise is continuous and varies
    on the scale of ``spacing``.
    """
    x = np.asarray(t, dtype=float) / spacing
    knot = np.floor(x)
    ease = (1.0 - np.cos(np.pi * (x - knot))) / 2.0
    a = uniform(key, knot, stream)
    b = uniform(key, knot + 1.0, stream)
    return np.asarray(np.sqrt(3.0) * (2.0 * (a + (b - a) * ease) - 1.0))
