# ruff: noqa
# Replaces np.sum for everyone else in the process.
# expect: monkeypatch
# message: module 'np'
import numpy as np


def compute_reward(s):
    np.sum = lambda *args, **kwargs: 0.0
    return s.x, {"x": s.x}
