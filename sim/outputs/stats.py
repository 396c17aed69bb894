"""95% confidence intervals for replications: a mean, a paired difference, two independent means.

Student t quantiles (two-sided 95%) for 1..30 degrees of freedom, then the normal value; Welch's
degrees of freedom for independent samples are rounded down (conservative).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: Student t 0.975 quantiles for df 1..30
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t975(df: float) -> float:
    """The two-sided 95% Student t quantile for *df* degrees of freedom (df >= 1)."""
    d = math.floor(df)
    if d < 1:
        return math.inf
    return T975[d - 1] if d <= len(T975) else 1.96


@dataclass(frozen=True)
class Interval:
    """An estimate with its 95% confidence half-width from *n* replications."""

    estimate: float
    half: float
    n: int

    @property
    def excludes_zero(self) -> bool:
        """True when the interval lies wholly above or below zero."""
        return abs(self.estimate) > self.half


def _sd(vals: Sequence[float]) -> float:
    m = sum(vals) / len(vals)
    return math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1))


def mean_ci(vals: Sequence[float]) -> Interval:
    """The mean of *vals* and its 95% half-width (NaN with fewer than two values)."""
    n = len(vals)
    m = sum(vals) / n
    if n < 2:
        return Interval(m, math.nan, n)
    return Interval(m, t975(n - 1) * _sd(vals) / math.sqrt(n), n)


def paired_ci(a: Sequence[float], b: Sequence[float]) -> Interval:
    """Mean of the paired differences ``b[i] - a[i]`` (common random numbers) with its 95% CI."""
    if len(a) != len(b):
        raise ValueError("paired samples need equal lengths")
    return mean_ci([y - x for x, y in zip(a, b, strict=True)])


def welch_ci(a: Sequence[float], b: Sequence[float]) -> Interval:
    """Difference of means ``mean(b) - mean(a)`` of independent samples, Welch's 95% CI."""
    na, nb = len(a), len(b)
    diff = sum(b) / nb - sum(a) / na
    if na < 2 or nb < 2:
        return Interval(diff, math.nan, min(na, nb))
    va, vb = _sd(a) ** 2 / na, _sd(b) ** 2 / nb
    se = math.sqrt(va + vb)
    if se == 0:
        return Interval(diff, 0.0, min(na, nb))
    df = (va + vb) ** 2 / (va ** 2 / (na - 1) + vb ** 2 / (nb - 1))
    return Interval(diff, t975(df) * se, min(na, nb))
