# ruff: noqa
# Reaches np.save through getattr with a computed name and writes into the sentinel dir.
# expect: forbidden_call
# expect-runtime: file_write
# message: computed name
# escape: write
import numpy as np


def compute_reward(s):
    saver = getattr(np, "sa" + "ve")
    saver("@SENTINEL@/pwned_getattr.npy", s.x)
    return s.x, {"x": s.x}
