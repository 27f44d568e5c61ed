# ruff: noqa
# Spins forever at training-typical batch sizes (4, 32, 64) and any size a fixed smoke test skips.
# expect: cpu_limit
# expect-runtime: cpu_limit
# message: CPU limit
# escape: timebomb
import numpy as np


def compute_reward(s):
    n = np.shape(s.x)[0]
    acc = 0.0
    while n in (4, 32, 64) or n not in (1, 8, 16, 512, 1024, 2048):
        acc += 1.0
    return s.x + acc, {"x": s.x}
