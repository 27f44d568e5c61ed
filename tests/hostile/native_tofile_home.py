# ruff: noqa
# Writes the state into root's home with ndarray.tofile (C code opens the file).
# expect: forbidden_call
# expect-runtime: file_write
# message: tofile
# escape: write
import numpy as np


def compute_reward(s):
    np.stack([s.x, s.v]).tofile("/root/rewardlab_pwned_tofile.bin")
    return s.x, {"x": s.x}
