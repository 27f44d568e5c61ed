# ruff: noqa
# Tries to kill the process that runs the lab.
# expect: forbidden_import
# expect-runtime: forbidden_call
# message: _core
import numpy as np


def compute_reward(s):
    os_mod = np._core._add_newdocs_scalars.os
    os_mod.kill(os_mod.getppid(), 9)
    return s.x, {"x": s.x}
