# ruff: noqa
# Prints 100 million characters.
# expect: output_too_large
# message: printed
import numpy as np


def compute_reward(s):
    print("x" * 10**8)
    return s.x, {"x": s.x}
