# ruff: noqa
# Binds numpy to another name first, so np.save is spelled m.save.
# expect: forbidden_call
# expect-runtime: file_write
# message: m is numpy (m = np, line 10): numpy.save is not allowed
import numpy as np


def compute_reward(s):
    m = np
    m.save("@SENTINEL@/pwned_alias.npy", s.x)
    return s.x, {"x": s.x}
