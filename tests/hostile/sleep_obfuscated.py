# ruff: noqa
# time.sleep(1e9) with the module name hidden from a text search.
# expect: forbidden_call
# message: __import__
import numpy as np


def compute_reward(s):
    __import__("".join(["ti", "me"])).sleep(1e9)
    return s.x, {"x": s.x}
