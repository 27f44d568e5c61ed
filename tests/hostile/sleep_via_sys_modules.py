# ruff: noqa
# Sleeps without using CPU (only the wall-clock limit can stop it).
# expect: forbidden_import
# expect-runtime: timeout
# message: _core
import numpy as np


def compute_reward(s):
    np._core._add_newdocs_scalars.sys.modules["time"].sleep(1e9)
    return s.x, {"x": s.x}
