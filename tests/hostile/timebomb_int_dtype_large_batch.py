# ruff: noqa
# Returns an integer total only for batches above 4096 envs.
# expect: wrong_type
# expect-runtime: wrong_type
# message: dtype
# escape: timebomb
import numpy as np


def compute_reward(s):
    n = np.shape(s.x)[0]
    total = s.x + 0.1 * s.v
    if n > 4096:
        total = np.round(total * 100).astype(np.int64)
    return total, {"x": s.x}
