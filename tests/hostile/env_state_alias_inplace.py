# ruff: noqa
# An in-place update through an alias of a state-view array (passes the static check).
# expect: mutates_input
# message: state-view array
import numpy as np


def compute_reward(s):
    speed = s.v
    speed *= 100.0
    return speed, {"speed": speed}
