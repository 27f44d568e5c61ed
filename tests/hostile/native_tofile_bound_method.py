# ruff: noqa
# Calls ndarray.tofile through a bound-method alias (not a direct call of a module attribute).
# expect: forbidden_call
# expect-runtime: file_write
# message: tofile
# escape: write
import numpy as np


def compute_reward(s):
    arr = np.asarray(s.x) * 1.0
    writer = arr.tofile
    writer("@SENTINEL@/pwned_bound.bin")
    return s.x, {"x": s.x}
