# ruff: noqa
# Binds the numpy.lib submodule to a name and creates a memory-mapped .npy file through lib.format.
# expect: forbidden_call
# message: lib.format is numpy.lib.format (lib = np.lib, line 9)
import numpy as np


def compute_reward(s):
    lib = np.lib
    mm = lib.format.open_memmap("@SENTINEL@/pwned_memmap.npy", mode="w+", dtype=np.float32, shape=(4,))
    mm[:] = 1.0
    return s.x, {"x": s.x}
