# ruff: noqa
# Raises only on a transition that reaches the goal (terminated), never seen under a random policy.
# expect: exception
# expect-runtime: exception
# message: goal bookkeeping
# caught-in: training
# escape: timebomb
import numpy as np


def compute_reward(s):
    if np.any(s.terminated):
        raise KeyError("goal bookkeeping")
    return s.x + 0.1 * s.v, {"x": s.x}
