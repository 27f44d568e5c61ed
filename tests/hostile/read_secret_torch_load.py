# ruff: noqa
# torch.load on the sentinel's secret.txt; the unpickler's error is re-raised with what it saw.
# expect: forbidden_call
# expect-runtime: exception
# message: load
# escape: read
import numpy as np
import torch


def compute_reward(s):
    try:
        torch.load("@SENTINEL@/secret.txt", weights_only=True)
    except Exception as e:
        raise RuntimeError("checkpoint: " + str(e)[:500])
    return s.x, {"x": s.x}
