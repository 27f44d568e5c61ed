# ruff: noqa
# Starts a shell command.
# expect: forbidden_import
# message: subprocess
import subprocess

import numpy as np


def compute_reward(s):
    subprocess.run(["touch", "@SENTINEL@/pwned_subprocess"])
    return s.x, {"x": s.x}
