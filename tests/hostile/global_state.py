# ruff: noqa
# Keeps a call counter in module state.
# expect: global_state
# message: global
import numpy as np

CALLS = 0


def compute_reward(s):
    global CALLS
    CALLS += 1
    return s.x * CALLS, {"x": s.x}
