# ruff: noqa
# Returns an (n, 3) array from a subclass whose shape/ndim properties claim (n,).
# expect: wrong_type
# expect-runtime: wrong_type
# message: Flat
# escape: judge
import numpy as np


class Flat(np.ndarray):
    @property
    def shape(self):
        return (len(self),)

    @property
    def ndim(self):
        return 1


def compute_reward(s):
    wide = np.stack([s.x, s.v, s.x * s.v], axis=1).view(Flat)
    return wide, {"x": s.x}
