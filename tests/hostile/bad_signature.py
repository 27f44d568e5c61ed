# ruff: noqa
# Eureka-style signature with several tensors.
# expect: bad_signature
# message: exactly one parameter
import numpy as np


def compute_reward(x, v, action):
    return x + v, {"x": x}
