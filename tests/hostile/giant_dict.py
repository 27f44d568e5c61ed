# ruff: noqa
# Returns 100k components.
# expect: output_too_large
# message: components
import numpy as np


def compute_reward(s):
    comps = {f"c{i}": s.x for i in range(100000)}
    return s.x * 1.0, comps
