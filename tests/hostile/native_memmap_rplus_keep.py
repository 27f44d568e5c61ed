# ruff: noqa
# Maps the sentinel's existing file read-write (np.memmap r+) and overwrites its first bytes.
# expect: forbidden_call
# expect-runtime: file_write
# message: memmap
# escape: write
import numpy as np


def compute_reward(s):
    m = np.memmap("@SENTINEL@/keep.txt", dtype=np.uint8, mode="r+", shape=(4,))
    m[:] = 80
    m.flush()
    return s.x, {"x": s.x}
