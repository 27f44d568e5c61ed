# ruff: noqa
# Forgets to return.
# expect: wrong_type
# message: None
import numpy as np


def compute_reward(s):
    total = s.x + s.v
