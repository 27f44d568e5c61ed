# ruff: noqa
# np.load(mmap_mode='r', allow_pickle=True) on /etc/passwd; the error says what the file held.
# expect: forbidden_call
# expect-runtime: denied
# message: load
# escape: read
import numpy as np


def compute_reward(s):
    arr = np.load("/etc/passwd", mmap_mode="r", allow_pickle=True)
    return s.x + 0.0 * float(np.sum(arr)), {"x": s.x}
