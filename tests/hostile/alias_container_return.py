# ruff: noqa
# Returns numpy inside a list from a helper and saves a file through the list item.
# expect: forbidden_call
# expect-runtime: file_write
# message: _libs()[0] is numpy (_libs() returns [np], line 10)
import numpy as np


def _libs():
    return [np]


def compute_reward(s):
    _libs()[0].save("@SENTINEL@/pwned_container.npy", s.x)
    return s.x, {"x": s.x}
