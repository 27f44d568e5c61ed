# ruff: noqa
# Replaces np.sum for everyone in the process, through an alias of the module.
# expect: monkeypatch
# message: m is numpy (m = np, line 9): assigns into module 'numpy'
import numpy as np


def compute_reward(s):
    m = np
    m.sum = lambda *args, **kwargs: 0.0
    return s.x, {"x": s.x}
