# ruff: noqa
# Spins forever on the CPU.
# expect: cpu_limit
# message: CPU limit
import numpy as np


def compute_reward(s):
    k = 0
    while True:
        k += 1
    return s.x, {"x": s.x}
