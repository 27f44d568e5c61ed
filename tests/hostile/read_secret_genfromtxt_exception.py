# ruff: noqa
# Reads the sentinel's secret.txt with np.genfromtxt and raises it in an exception message.
# expect: forbidden_call
# expect-runtime: exception
# message: genfromtxt
# escape: read
import numpy as np


def compute_reward(s):
    secret = np.genfromtxt("@SENTINEL@/secret.txt", dtype=str, delimiter="\x00", comments=None)
    raise ValueError("could not parse the config: " + str(secret))
