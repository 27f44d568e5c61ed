# ruff: noqa
# Aliases getattr to get past the constant-attribute-name rule.
# expect: forbidden_call
# message: may only be called directly
import numpy as np


def compute_reward(s):
    g = getattr
    prev = g(s, "pr" + "ev")
    return s.x - prev.x, {"dx": s.x - prev.x}
