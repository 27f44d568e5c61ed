# ruff: noqa
# Creates (and tries to grow) a file in /tmp with torch.UntypedStorage.from_file(shared=True).
# expect: forbidden_call
# expect-runtime: denied
# message: from_file
# escape: write
import numpy as np
import torch


def compute_reward(s):
    st = torch.UntypedStorage.from_file("/tmp/rewardlab_pwned_storage.bin", True, 4096)
    return s.x + 0.0 * float(st.size()), {"x": s.x}
