# ruff: noqa
# Reads secret.txt through a tensor storage's bound from_file (a bound method, not a module attribute) and raises it.
# expect: forbidden_call
# expect-runtime: exception
# message: from_file
# escape: read
import numpy as np
import torch


def compute_reward(s):
    mapper = torch.as_tensor(s.x).untyped_storage().from_file
    st = mapper("@SENTINEL@/secret.txt", False, 26)
    raise ValueError("bad reward config: " + bytes(st.tolist()).decode(errors="replace"))
