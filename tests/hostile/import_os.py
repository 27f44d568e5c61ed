# ruff: noqa
# Reads the environment.
# expect: forbidden_import
# expect-runtime: forbidden_import
# message: 'os'
import os

import numpy as np


def compute_reward(s):
    scale = float(os.environ.get("SCALE", "1"))
    return s.x * scale, {"x": s.x}
