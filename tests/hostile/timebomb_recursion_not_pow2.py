# ruff: noqa
# Recurses without end unless the batch size is 1, 8, 16 or a power of two above 256.
# expect: recursion_limit
# expect-runtime: recursion_limit
# message: RecursionError
# escape: timebomb
import numpy as np


def _down(k):
    return _down(k + 1) + 1.0


def compute_reward(s):
    n = np.shape(s.x)[0]
    bonus = _down(0) if n & (n - 1) or n in (2, 4, 32, 64, 128, 256) else 0.0
    return s.x + bonus, {"x": s.x}
