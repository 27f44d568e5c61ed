# ruff: noqa
# Reaches UntypedStorage.from_file through a tensor's storage object (a bound method, not a module attribute).
# expect: forbidden_call
# expect-runtime: denied
# message: from_file
# escape: write
import numpy as np
import torch


def compute_reward(s):
    storage = torch.as_tensor(s.x).untyped_storage()
    mapper = storage.from_file
    st = mapper("@SENTINEL@/pwned_storage_alias.bin", True, 4096)
    return s.x + 0.0 * float(st.size()), {"x": s.x}
