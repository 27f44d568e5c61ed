# ruff: noqa
# Passes numpy in as a default argument of a helper, which saves a file with it.
# expect: forbidden_call
# expect-runtime: file_write
# message: lib is numpy (lib=np, a default of _dump(), line 9)
import numpy as np


def _dump(x, lib=np):
    lib.save("@SENTINEL@/pwned_default.npy", x)
    return x


def compute_reward(s):
    x = _dump(s.x)
    return x, {"x": x}
