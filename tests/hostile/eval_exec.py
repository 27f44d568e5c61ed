# ruff: noqa
# Runs a string as code.
# expect: forbidden_call
# expect-runtime: forbidden_call
# message: eval
import numpy as np


def compute_reward(s):
    scale = eval("__import__('os').getpid()")
    return s.x * scale, {"x": s.x}
