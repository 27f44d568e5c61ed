# ruff: noqa
# Reaches io.open through sys.modules (via numpy internals) and reads the sentinel's secret.txt.
# expect: forbidden_import
# expect-runtime: exception
# message: _core
# escape: read
import numpy as np


def compute_reward(s):
    io = np._core._add_newdocs_scalars.sys.modules["io"]
    with io.open("@SENTINEL@/secret.txt") as f:
        secret = f.readline().strip()
    return s.x, {"x": s.x, secret[:60]: s.v}
