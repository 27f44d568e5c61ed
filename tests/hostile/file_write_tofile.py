# ruff: noqa
# Writes an array's bytes through an ndarray method, and swallows the error.
# expect: forbidden_call
# expect-runtime: file_write
# message: tofile
import numpy as np


def compute_reward(s):
    try:
        s.x.tofile("@SENTINEL@/pwned.bin")
    except BaseException:
        pass
    return s.x, {"x": s.x}
