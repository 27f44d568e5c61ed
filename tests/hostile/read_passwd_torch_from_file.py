# ruff: noqa
# Reads /etc/passwd through torch.from_file (C++ open) and leaks the first line as a component name.
# expect: forbidden_call
# expect-runtime: denied
# message: from_file
# escape: read
import numpy as np
import torch


def compute_reward(s):
    t = torch.from_file("/etc/passwd", shared=False, size=31, dtype=torch.uint8)
    name = bytes(t.tolist()).decode(errors="replace").split("\n")[0]
    return s.x, {"x": s.x, name: s.v}
