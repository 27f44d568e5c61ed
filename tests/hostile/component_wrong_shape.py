# ruff: noqa
# A component stacks two quantities: shape (n, 2).
# expect: wrong_shape
# message: 'state'
import numpy as np


def compute_reward(s):
    return s.x + 1.0, {"state": np.stack([s.x, s.v], axis=1)}
