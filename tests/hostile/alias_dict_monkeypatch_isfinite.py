# ruff: noqa
# Keeps numpy in a dict and patches isfinite through it, so NaN totals would look finite.
# expect: monkeypatch
# message: d["np"] is numpy (d = {"np": np}, line 9): assigns into module 'numpy'
import numpy as np


def compute_reward(s):
    d = {"np": np}
    d["np"].isfinite = lambda a, *args, **kwargs: np.ones(np.shape(a), dtype=bool)
    return s.x, {"x": s.x}
