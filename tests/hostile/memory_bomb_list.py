# ruff: noqa
# A list that doubles until memory runs out.
# expect: memory_limit
# message: memory
import numpy as np


def compute_reward(s):
    hoard = [0.0]
    while True:
        hoard = hoard + hoard
    return s.x, {"x": s.x}
