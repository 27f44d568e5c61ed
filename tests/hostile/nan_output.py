# ruff: noqa
# log of a quantity that is negative for most states: NaN.
# expect: nan_or_inf
# message: NaN or inf
import numpy as np


def compute_reward(s):
    shaped = np.log(s.x)
    return shaped, {"log_x": shaped}
