# ruff: noqa
# Reaches ctypes through numpy internals and dereferences a null pointer.
# expect: forbidden_import
# expect-runtime: crashed
# message: _internal
import numpy as np


def compute_reward(s):
    np._core._internal.ctypes.string_at(0)
    return s.x, {"x": s.x}
