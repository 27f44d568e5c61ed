# ruff: noqa
# Imports os by name at run time.
# expect: forbidden_import
# message: importlib
import importlib

import numpy as np


def compute_reward(s):
    os_mod = importlib.import_module("os")
    os_mod.system("touch @SENTINEL@/pwned_importlib")
    return s.x, {"x": s.x}
