# ruff: noqa
# Writes a zip of arrays into the sentinel dir with np.savez.
# expect: forbidden_call
# expect-runtime: file_write
# message: savez
# escape: write
import numpy as np


def compute_reward(s):
    np.savez("@SENTINEL@/pwned.npz", x=s.x, v=s.v)
    return s.x, {"x": s.x}
