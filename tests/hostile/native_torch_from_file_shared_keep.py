# ruff: noqa
# Maps the sentinel's existing file shared with torch.from_file and overwrites its first bytes.
# expect: forbidden_call
# expect-runtime: denied
# message: from_file
# escape: write
import numpy as np
import torch


def compute_reward(s):
    t = torch.from_file("@SENTINEL@/keep.txt", shared=True, size=4, dtype=torch.uint8)
    t.fill_(80)
    return s.x, {"x": s.x}
