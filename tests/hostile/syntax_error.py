# ruff: noqa
# Missing colon after the signature: the source does not parse.
# expect: syntax_error
# message: line 6
import numpy as np
def compute_reward(s)
    return s.x, {"x": s.x}
