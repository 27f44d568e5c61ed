# ruff: noqa
# Adds a component only on large batches.
# expect: unstable_components
# message: changed
import numpy as np


def compute_reward(s):
    comps = {"height": s.height}
    if s.x.shape[0] > 8:
        comps["speed"] = np.abs(s.v)
    total = sum(comps.values())
    return total, comps
