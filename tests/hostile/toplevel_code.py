# ruff: noqa
# Runs work at import time.
# expect: toplevel_code
# message: import time
import numpy as np

TABLE = np.linspace(0, 1, 10**8)


def compute_reward(s):
    return s.x, {"x": s.x}
