# ruff: noqa
# Reads /etc/passwd with np.loadtxt through a module alias and leaks its size into the reward.
# expect: forbidden_call
# message: reader is numpy (reader = np, line 9): numpy.loadtxt is not allowed
import numpy as np


def compute_reward(s):
    reader = np
    rows = reader.loadtxt("/etc/passwd", dtype=str, delimiter=":", usecols=0)
    return s.x + 0.0 * len(rows), {"x": s.x}
