# ruff: noqa
# Averages over the batch: one number for all envs.
# expect: wrong_shape
# message: scalar
import numpy as np


def compute_reward(s):
    total = float(np.mean(s.x))
    return total, {"mean_x": total}
