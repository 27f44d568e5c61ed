# ruff: noqa
# The entry point has another name.
# expect: missing_entry
# message: dense_reward
import numpy as np


def dense_reward(s):
    return s.x, {"x": s.x}
