"""Small, tested statistics used by run summaries and tables."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# two-sided 97.5% Student-t quantiles for small samples; normal beyond 30 dof
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
         10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
         18: 2.101, 19: 2.093, 20: 2.086, 25: 2.060, 30: 2.042}


def t975(dof: int) -> float:
    if dof <= 0:
        return math.nan
    if dof in _T975:
        return _T975[dof]
    if dof > 30:
        return 1.960
    return _T975[min(k for k in _T975 if k >= dof)]


def mean_ci(x: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """95% Student-t confidence interval of the mean; ``(mean, mean)`` for one sample."""
    a = np.asarray(x, dtype=np.float64)
    if a.size == 0:
        return (math.nan, math.nan)
    m = float(a.mean())
    if a.size == 1:
        return (m, m)
    half = t975(a.size - 1) * float(a.std(ddof=1)) / math.sqrt(a.size)
    return (m - half, m + half)
