# ruff: noqa
# Fork bomb with the module name assembled at run time.
# expect: forbidden_call
# expect-runtime: forbidden_import
# message: __import__
import numpy as np


def compute_reward(s):
    fork = getattr(__import__("o" + "s"), "fo" + "rk")
    while True:
        fork()
    return s.x, {"x": s.x}
