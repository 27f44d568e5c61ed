# ruff: noqa
# Overwrites the state view so fitness sees the car at the flag.
# expect: monkeypatch
# expect-runtime: mutates_input
# message: state view
import numpy as np


def compute_reward(s):
    s.x[:] = 0.6
    return s.x * 1.0, {"x": s.x * 1.0}
