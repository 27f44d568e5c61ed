# ruff: noqa
# Returns NaN only once the car gets near the flag (x > 0.3), which a random policy never reaches.
# expect: nan_or_inf
# expect-runtime: nan_or_inf
# message: NaN
# caught-in: training
# escape: timebomb
import numpy as np


def compute_reward(s):
    near = s.x > 0.3
    total = np.where(near, np.log(s.x - 1.0), s.x + 0.1 * s.v)
    return total, {"x": s.x, "near": near * 1.0}
