# ruff: noqa
# Binds torch to another name and saves a tensor file with it.
# expect: forbidden_call
# message: t is torch (t = torch, line 10): torch.save is not allowed
import numpy as np
import torch


def compute_reward(s):
    t = torch
    t.save(torch.as_tensor(s.x), "@SENTINEL@/pwned_alias.pt")
    return s.x, {"x": s.x}
