# ruff: noqa
# torch.save into /tmp and root's home, swallowing every error (the empty file may stay behind).
# expect: forbidden_call
# expect-runtime: ok
# message: save
# (the kernel refuses the write in C++; the code swallows the error; nothing changes outside, which the sentinel test checks)
# escape: write
import numpy as np
import torch


def compute_reward(s):
    for path in ("/root/rewardlab_pwned_torch.pt", "/tmp/rewardlab_pwned_torch.pt"):
        try:
            torch.save(torch.as_tensor(s.v), path)
        except Exception:
            pass
    return s.x, {"x": s.x}
