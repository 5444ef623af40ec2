"""Seed statistics for the tables: confidence intervals, the difference to a baseline
with a Welch t-test, and Holm's correction across a table. numpy/scipy only.

* :func:`mean_ci`: mean, sample std and a 95% interval for the mean over seeds — Student t
  (``mean ± t_{0.975, n-1} s / sqrt(n)``) for ``n < 10``, the percentile bootstrap of the
  mean (``BOOTSTRAP_RESAMPLES`` resamples, fixed seed, so a report is reproducible) for ``n >= 10``;
  no interval for ``n < 2``.
* :func:`welch`: ``mean(a) - mean(b)`` with its Welch–Satterthwaite t interval and the
  two-sided Welch t-test p-value (unequal variances; NaN when either side has < 2 seeds or
  both have zero variance).
* :func:`holm`: Holm's step-down adjusted p-values (family-wise error over one table).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np


def _scipy_stats():
    """``scipy.stats``, imported on first use: a one-seed table never needs it (~0.5 s)."""
    from scipy import stats

    return stats

LEVEL = 0.95
BOOTSTRAP_MIN_N = 10
BOOTSTRAP_RESAMPLES = 10_000


@dataclass(frozen=True)
class Interval:
    mean: float
    std: float
    low: float
    high: float
    n: int
    method: str  # "t", "bootstrap" or "" (no interval)

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def _finite(values: Sequence[float]) -> np.ndarray:
    arr = np.asarray(list(values), dtype=float)
    return arr[np.isfinite(arr)]


def mean_ci(values: Sequence[float], level: float = LEVEL, seed: int = 0) -> Interval:
    """Mean, std (ddof 1) and a ``level`` interval for the mean of the finite ``values``."""
    x = _finite(values)
    n = len(x)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, math.nan, 0, "")
    mean = float(x.mean())
    if n < 2:
        return Interval(mean, math.nan, math.nan, math.nan, n, "")
    std = float(x.std(ddof=1))
    if n >= BOOTSTRAP_MIN_N:
        rng = np.random.default_rng(seed)
        means = x[rng.integers(0, n, size=(BOOTSTRAP_RESAMPLES, n))].mean(axis=1)
        alpha = (1 - level) / 2
        low, high = np.quantile(means, [alpha, 1 - alpha])
        return Interval(mean, std, float(low), float(high), n, "bootstrap")
    half = float(_scipy_stats().t.ppf(1 - (1 - level) / 2, n - 1)) * std / math.sqrt(n)
    return Interval(mean, std, mean - half, mean + half, n, "t")


@dataclass(frozen=True)
class Difference:
    diff: float   # mean(a) - mean(b)
    low: float
    high: float
    p: float      # two-sided Welch t-test


def welch(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Difference:
    """``mean(a) - mean(b)``, its Welch t interval and the Welch t-test p-value."""
    x, y = _finite(a), _finite(b)
    if len(x) == 0 or len(y) == 0:
        return Difference(math.nan, math.nan, math.nan, math.nan)
    diff = float(x.mean() - y.mean())
    if len(x) < 2 or len(y) < 2:
        return Difference(diff, math.nan, math.nan, math.nan)
    va, vb = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    se = math.sqrt(va + vb)
    if se == 0:
        return Difference(diff, diff, diff, math.nan)
    df = (va + vb) ** 2 / (va**2 / (len(x) - 1) + vb**2 / (len(y) - 1))
    half = float(_scipy_stats().t.ppf(1 - (1 - level) / 2, df)) * se
    p = float(_scipy_stats().ttest_ind(x, y, equal_var=False).pvalue)
    return Difference(diff, diff - half, diff + half, p)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (NaN stays NaN and does not count as a test)."""
    p = np.asarray(list(pvalues), dtype=float)
    out = np.full(len(p), math.nan)
    idx = [i for i in range(len(p)) if math.isfinite(p[i])]
    m = len(idx)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda j: p[j])):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()
