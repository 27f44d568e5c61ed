# ruff: noqa
# Uses a str subclass as a component name whose __len__ says 5 while it is 200k characters long.
# expect: output_too_large
# expect-runtime: output_too_large
# message: longer
# escape: judge
import numpy as np


class Short(str):
    def __len__(self):
        return 5


def compute_reward(s):
    return s.x * 1.0, {Short("k" * 200_000): s.v, "x": s.x}
