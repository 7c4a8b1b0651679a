"""Exponential backoff with jitter: the one formula every retry loop waits by."""

from __future__ import annotations


def backoff_delay(attempt: int, first: float, cap: float, jitter: float) -> float:
    """Seconds before retry ``attempt`` (1, 2, ...): ``first · 2^(attempt − 1)``, at most ``cap``,
    scaled by ``0.5 + 0.5 · jitter`` (``jitter`` in [0, 1)) so that clients spread out."""
    return min(cap, first * 2 ** (attempt - 1)) * (0.5 + 0.5 * jitter)
