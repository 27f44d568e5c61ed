# ruff: noqa
# Counts calls in a module-level list and returns NaN after the 30th call.
# expect: nan_or_inf
# expect-runtime: nan_or_inf
# message: NaN
# caught-in: training
# escape: timebomb
import numpy as np


CALLS = []


def compute_reward(s):
    CALLS.append(1)
    total = s.x * 1.0
    if len(CALLS) > 30:
        total = total + np.nan
    return total, {"x": s.x}
