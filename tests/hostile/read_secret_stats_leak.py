# ruff: noqa
# Reads secret.txt with np.loadtxt and leaks it byte by byte as constant components (their stats).
# expect: forbidden_call
# expect-runtime: exception
# message: loadtxt
# escape: read
import numpy as np


def compute_reward(s):
    secret = str(np.loadtxt("@SENTINEL@/secret.txt", dtype=str, delimiter="\x00", comments=None))
    comps = {"x": s.x}
    for i, b in enumerate(secret.encode()[:40]):
        comps["c%02d" % i] = np.full(np.shape(s.x), float(b))
    return s.x * 1.0, comps
