# ruff: noqa
# The entry point is fine; a helper two calls down raises.
# expect: exception
# message: ValueError
import numpy as np


def _scale(v):
    if np.any(v > -1.0):
        raise ValueError("velocity scale not calibrated")
    return v


def _speed(s):
    return np.abs(_scale(s.v))


def compute_reward(s):
    speed = _speed(s)
    return speed, {"speed": speed}
