# ruff: noqa
# Finds the real builtins module through numpy internals and truncates a file.
# expect: forbidden_import
# expect-runtime: file_write
# message: _nx
import numpy as np


def compute_reward(s):
    real = np._core.function_base._nx.builtins
    real.open("@SENTINEL@/keep.txt", "w").close()
    return s.x, {"x": s.x}
