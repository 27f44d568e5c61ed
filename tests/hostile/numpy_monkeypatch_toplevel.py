# ruff: noqa
# Patches numpy at import time.
# expect: monkeypatch
# message: top-level
import numpy as np

np.isfinite = lambda x: True


def compute_reward(s):
    return s.x, {"x": s.x}
