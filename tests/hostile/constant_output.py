# ruff: noqa
# A dead reward: the same value for every transition.
# expect: constant_output
# message: no learning signal
import numpy as np


def compute_reward(s):
    alive = np.ones_like(s.x)
    return alive, {"alive": alive}
