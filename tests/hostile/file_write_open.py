# ruff: noqa
# Writes a file outside its directory with the open builtin.
# expect: forbidden_call
# expect-runtime: file_write
# message: open
import numpy as np


def compute_reward(s):
    with open("@SENTINEL@/pwned_open.txt", "w") as f:
        f.write("owned")
    return s.x, {"x": s.x}
