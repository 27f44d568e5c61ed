# ruff: noqa
# Reads far outside the array's memory through a strided view (segfaults or leaks memory contents).
# expect: forbidden_import
# message: memory outside the array
import numpy as np


def compute_reward(s):
    view = np.lib.stride_tricks.as_strided(s.x, shape=(s.x.shape[0],), strides=(1 << 40,))
    return view * 0.0 + s.x, {"x": s.x}
