# ruff: noqa
# A 0/1 integer total.
# expect: wrong_type
# message: dtype
import numpy as np


def compute_reward(s):
    right = (s.v > 0).astype(np.int64)
    return right, {"moving_right": right}
