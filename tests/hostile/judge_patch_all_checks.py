# ruff: noqa
# Patches np.isfinite/isnan/isinf/all/any and math.isfinite/isnan, then returns NaN.
# expect: monkeypatch
# expect-runtime: nan_or_inf
# message: assigns into module
# escape: judge
import math

import numpy as np


def _yes(a, *args, **kwargs):
    return np.ones(np.shape(a), dtype=bool)


def _no(a, *args, **kwargs):
    return np.zeros(np.shape(a), dtype=bool)


def compute_reward(s):
    np.isfinite = _yes
    np.isnan = _no
    np.isinf = _no
    np.all = lambda a, *args, **kwargs: True
    np.any = lambda a, *args, **kwargs: False
    math.isfinite = lambda v: True
    math.isnan = lambda v: False
    return np.full(np.shape(s.x), np.nan) + s.x, {"x": s.x}
