# ruff: noqa
# Returns an ndarray subclass whose __array_ufunc__ answers np.isfinite with all-True; the total is NaN.
# expect: wrong_type
# expect-runtime: wrong_type
# message: Calm
# escape: judge
import numpy as np


class Calm(np.ndarray):
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        plain = [np.asarray(a) for a in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(np.asarray(o) for o in kwargs["out"])
        if ufunc is np.isfinite:
            return np.ones(plain[0].shape, dtype=bool)
        if method == "reduce":
            return ufunc.reduce(*plain, **kwargs)
        return ufunc(*plain, **kwargs)


def compute_reward(s):
    total = np.where(s.x > -0.55, np.nan, s.x).view(Calm)
    return total, {"x": s.x}
