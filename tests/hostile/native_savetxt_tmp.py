# ruff: noqa
# Writes a text file into /tmp with np.savetxt.
# expect: forbidden_call
# expect-runtime: file_write
# message: savetxt
# escape: write
import numpy as np


def compute_reward(s):
    np.savetxt("/tmp/rewardlab_pwned_savetxt.txt", s.x)
    return s.x, {"x": s.x}
