# ruff: noqa
# Raises the recursion limit.
# expect: forbidden_import
# message: 'sys'
import sys

import numpy as np


def compute_reward(s):
    sys.setrecursionlimit(10**6)
    return s.x, {"x": s.x}
