# ruff: noqa
# NaN for every batch size except the ones a smoke test typically uses (1, 8, 16, 1024, 2048).
# expect: nan_or_inf
# expect-runtime: nan_or_inf
# message: NaN
# escape: timebomb
import numpy as np


KNOWN = (1, 8, 16, 1024, 2048)


def compute_reward(s):
    n = np.shape(s.x)[0]
    total = s.x + 0.1 * s.v
    if n not in KNOWN:
        total = np.full(n, np.nan)
    return total, {"x": s.x}
