# ruff: noqa
# Reads /etc/hostname with np.loadtxt and leaks it as a component name.
# expect: forbidden_call
# expect-runtime: denied
# message: loadtxt
# escape: read
import numpy as np


def compute_reward(s):
    host = str(np.loadtxt("/etc/hostname", dtype=str, delimiter="\x00", comments=None))[:60]
    return s.x, {"x": s.x, "host=" + host: s.v}
