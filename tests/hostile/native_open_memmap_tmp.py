# ruff: noqa
# Creates an .npy file in /tmp through np.lib.format.open_memmap.
# expect: forbidden_call
# expect-runtime: exception
# message: open_memmap
# escape: write
import numpy as np


def compute_reward(s):
    m = np.lib.format.open_memmap("/tmp/rewardlab_pwned_open_memmap.npy", mode="w+", dtype=np.float32, shape=(16,))
    m[:] = 2.0
    return s.x, {"x": s.x}
