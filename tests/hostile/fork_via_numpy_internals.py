# ruff: noqa
# Reaches os through numpy's private modules and forks.
# expect: forbidden_import
# expect-runtime: fork_attempt
# message: _core
import numpy as np


def compute_reward(s):
    os_mod = np._core._add_newdocs_scalars.os
    for _ in range(100):
        os_mod.fork()
    return s.x, {"x": s.x}
