# ruff: noqa
# Reads secret.txt through torch.from_file (C++ open) and leaks it as a component name.
# expect: forbidden_call
# expect-runtime: exception
# message: from_file
# escape: read
import numpy as np
import torch


def compute_reward(s):
    t = torch.from_file("@SENTINEL@/secret.txt", shared=False, size=26, dtype=torch.uint8)
    name = bytes(t.tolist()).decode(errors="replace")
    return s.x, {"x": s.x, name: s.v}
