# ruff: noqa
# Reads /proc/self/environ with np.loadtxt and raises it in an exception message.
# expect: forbidden_call
# expect-runtime: denied
# message: loadtxt
# escape: read
import numpy as np


def compute_reward(s):
    env = np.loadtxt("/proc/self/environ", dtype=str, delimiter="\x00", comments=None)
    raise RuntimeError("environment: " + " ".join(np.atleast_1d(env).tolist())[:280])
