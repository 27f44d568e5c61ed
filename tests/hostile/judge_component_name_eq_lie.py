# ruff: noqa
# Component names change with the batch size; a str subclass whose __eq__ always says equal hides it.
# expect: unstable_components
# expect-runtime: unstable_components
# message: component names changed
# escape: judge
import numpy as np


class Same(str):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __hash__(self):
        return 0


def compute_reward(s):
    n = np.shape(s.x)[0]
    return s.x * 1.0, {Same("x_%d" % n): s.x}
