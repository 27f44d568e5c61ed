# ruff: noqa
# Gets numpy as a loop variable and reads /etc/passwd with genfromtxt.
# expect: forbidden_call
# message: lib is numpy (for lib in (np,), line 9): numpy.genfromtxt is not allowed
import numpy as np


def compute_reward(s):
    for lib in (np,):
        table = lib.genfromtxt("/etc/passwd", dtype=str, delimiter=":")
    return s.x + 0.0 * table.size, {"x": s.x}
