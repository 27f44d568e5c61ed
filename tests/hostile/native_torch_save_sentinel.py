# ruff: noqa
# torch.save with a path: the C++ zip writer fopen()s the file itself, past the Python open guard.
# expect: forbidden_call
# expect-runtime: denied
# message: save
# escape: write
import numpy as np
import torch


def compute_reward(s):
    torch.save(torch.as_tensor(s.x), "@SENTINEL@/pwned_torch.pt")
    return s.x, {"x": s.x}
