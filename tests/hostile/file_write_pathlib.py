# ruff: noqa
# Truncates a file outside its directory with pathlib.
# expect: forbidden_import
# expect-runtime: forbidden_import
# message: pathlib
import pathlib

import numpy as np


def compute_reward(s):
    pathlib.Path("@SENTINEL@/keep.txt").write_text("")
    return s.x, {"x": s.x}
