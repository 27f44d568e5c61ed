# ruff: noqa
# Writes an array file with numpy.
# expect: forbidden_call
# expect-runtime: file_write
# message: save
import numpy as np


def compute_reward(s):
    np.save("@SENTINEL@/pwned.npy", s.x)
    return s.x, {"x": s.x}
