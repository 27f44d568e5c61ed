# ruff: noqa
# Mixed indentation inside the body.
# expect: syntax_error
# message: indent
import numpy as np


def compute_reward(s):
    total = s.x * 2.0
      return total, {"x": total}
