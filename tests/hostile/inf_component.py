# ruff: noqa
# Divides by zero in one component only; the total looks finite-ish until it is not.
# expect: nan_or_inf
# message: ratio
import numpy as np


def compute_reward(s):
    ratio = s.v / np.zeros_like(s.v)
    return s.x + ratio, {"ratio": ratio, "x": s.x}
