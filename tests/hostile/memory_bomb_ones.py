# ruff: noqa
# Asks numpy for 800 GB at once.
# expect: memory_limit
# message: memory
import numpy as np


def compute_reward(s):
    big = np.ones(10**11)
    return s.x + big[: s.x.shape[0]], {"x": s.x}
