# ruff: noqa
# Allocates terabytes unless the batch size is 1, 8, 16 or a power of two above 256 (what fixed smoke tests use).
# expect: memory_limit
# expect-runtime: memory_limit
# message: memory
# escape: timebomb
import numpy as np


def compute_reward(s):
    n = np.shape(s.x)[0]
    if n & (n - 1) or n in (2, 4, 32, 64, 128, 256):
        junk = np.ones((n, 1 << 36))
        return s.x + junk[:, 0], {"x": s.x}
    return s.x * 1.0, {"x": s.x}
