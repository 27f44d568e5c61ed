# ruff: noqa
# Replaces len in the builtins it was given.
# expect: dunder_access
# message: __builtins__
import numpy as np


def compute_reward(s):
    __builtins__["len"] = lambda x: 0
    return s.x, {"x": s.x}
