# ruff: noqa
# Reads a state-view field the task does not have; the error lists the real fields.
# expect: exception
# message: position
import numpy as np


def compute_reward(s):
    return s.position * 1.0, {"position": s.position * 1.0}
