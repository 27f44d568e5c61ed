# ruff: noqa
# Unbounded recursion.
# expect: recursion_limit
# message: recursion
import numpy as np


def _depth(n):
    return _depth(n + 1) + 1


def compute_reward(s):
    d = _depth(0)
    return s.x * d, {"x": s.x}
