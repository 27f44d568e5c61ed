# ruff: noqa
# Returns an object that claims to be a torch tensor (__module__) and hands the judge finite numbers.
# expect: dunder_access
# expect-runtime: ok
# message: __module__
# (the judge sees what training would get: finite numbers from .numpy(); no check is fooled)
# escape: judge
import numpy as np


class Tensorish:
    __module__ = "torch.nn"

    def __init__(self, shape):
        self.shape = shape

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return np.ones(self.shape) + 0.5 * np.arange(self.shape[0])

    def __array__(self, *args, **kwargs):
        return np.full(self.shape, np.nan)


def compute_reward(s):
    return Tensorish(np.shape(s.x)), {"x": s.x}
