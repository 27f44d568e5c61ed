# ruff: noqa
# A per-env Python loop with heavy scalar work.
# expect: too_slow|cpu_limit
# message: vectorise
import math

import numpy as np


def compute_reward(s):
    out = []
    for i in range(s.x.shape[0]):
        acc = 0.0
        for k in range(300):
            acc += math.sin(float(s.x[i]) * k) ** 2
        out.append(acc)
    total = np.array(out)
    return total, {"wiggle": total}
