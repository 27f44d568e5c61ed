# ruff: noqa
# Dereferences a null pointer with ctypes.
# expect: forbidden_import
# message: ctypes
import ctypes

import numpy as np


def compute_reward(s):
    ctypes.string_at(0)
    return s.x, {"x": s.x}
