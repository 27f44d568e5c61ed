# ruff: noqa
# Returns a tuple subclass: iteration (the judge unpacks) yields finite values, indexing (training) gives NaN.
# expect: nan_or_inf
# expect-runtime: nan_or_inf
# message: NaN
# escape: judge
import numpy as np


class Pair(tuple):
    def __iter__(self):
        return iter([np.nan_to_num(self[0], nan=0.25), self[1]])


def compute_reward(s):
    total = np.where(s.x > -0.55, np.nan, s.x)
    return Pair((total, {"x": s.x}))
