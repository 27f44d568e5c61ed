# ruff: noqa
# Returns an object-dtype array of strings from a subclass that claims float64 and answers isfinite.
# expect: wrong_type
# expect-runtime: wrong_type
# message: Floaty
# escape: judge
import numpy as np


class Floaty(np.ndarray):
    @property
    def dtype(self):
        return np.dtype(np.float64)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return np.ones(np.shape(inputs[0]), dtype=bool)

    def astype(self, *args, **kwargs):
        return np.zeros(len(self)) + 1.0 * np.arange(len(self))


def compute_reward(s):
    words = np.array([str(v) + " points" for v in np.asarray(s.x).tolist()], dtype="O")
    return words.view(Floaty), {"x": s.x}
