# ruff: noqa
# Counts calls in a mutable default argument and raises after the 40th (the smoke test calls about ten times).
# expect: exception
# expect-runtime: exception
# message: reward service expired
# caught-in: training
# escape: timebomb
import numpy as np


def compute_reward(s, calls=[]):
    calls.append(1)
    if len(calls) > 40:
        raise RuntimeError("reward service expired")
    return s.x * 1.0, {"x": s.x}
