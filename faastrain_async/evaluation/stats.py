"""Means with 95% confidence intervals (Student's t), without SciPy."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

#: Two-sided 95% critical values of Student's t for 1..30 degrees of freedom.
_T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
_Z975 = 1.959963984540054


def t_critical(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom (df >= 1)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(_T95):
        return _T95[df - 1]
    # Beyond the table, the Cornish-Fisher expansion around the normal quantile (error < 1e-4).
    z = _Z975
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


class Stat(NamedTuple):
    """Mean, half-width of its 95% confidence interval (NaN for n < 2), and the sample size."""

    mean: float
    ci95: float
    n: int

    def text(self, digits: int = 2) -> str:
        if math.isnan(self.mean):
            return "n/a"
        if math.isnan(self.ci95):
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.ci95:.{digits}f}"


def aggregate(values: Sequence[float]) -> Stat:
    """The :class:`Stat` of the finite ``values`` (a NaN marks an episode without that measurement)."""
    xs = [float(v) for v in values if math.isfinite(v)]
    n = len(xs)
    if n == 0:
        return Stat(math.nan, math.nan, 0)
    mean = math.fsum(xs) / n
    if n < 2:
        return Stat(mean, math.nan, 1)
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    return Stat(mean, t_critical(n - 1) * sd / math.sqrt(n), n)
