# ruff: noqa
# Returns only the components.
# expect: wrong_type
# message: (total, components)
import numpy as np


def compute_reward(s):
    return {"x": s.x, "v": s.v}
