# ruff: noqa
# Creates a new file in the sentinel dir with np.memmap(mode='w+').
# expect: forbidden_call
# expect-runtime: file_write
# message: memmap
# escape: write
import numpy as np


def compute_reward(s):
    m = np.memmap("@SENTINEL@/pwned_memmap.bin", dtype=np.float32, mode="w+", shape=(64,))
    m[:] = 1.0
    m.flush()
    return s.x, {"x": s.x}
