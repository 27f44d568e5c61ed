# ruff: noqa
# Takes np.save without calling it and calls it under another name.
# expect: forbidden_call
# expect-runtime: file_write
# message: saver is numpy.save (saver = np.save, line 10)
import numpy as np


def compute_reward(s):
    saver = np.save
    saver("@SENTINEL@/pwned_function_alias.npy", s.x)
    return s.x, {"x": s.x}
