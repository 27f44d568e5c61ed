# ruff: noqa
# Returns an (n, 1) column instead of (n,).
# expect: wrong_shape
# message: squeeze
import numpy as np


def compute_reward(s):
    total = (s.x + 0.5)[:, None]
    return total, {"x": s.x}
