# ruff: noqa
# np.loadtxt('/etc/passwd') as floats: numpy's own ValueError quotes the file's first line.
# expect: forbidden_call
# expect-runtime: denied
# message: loadtxt
# escape: read
import numpy as np


def compute_reward(s):
    table = np.loadtxt("/etc/passwd", dtype=float, delimiter=",")
    return s.x + 0.0 * table.sum(), {"x": s.x}
