# ruff: noqa
# Reads /etc/passwd through a tensor storage's bound from_file and leaks the first line as a component name.
# expect: forbidden_call
# expect-runtime: denied
# message: from_file
# escape: read
import numpy as np
import torch


def compute_reward(s):
    mapper = torch.as_tensor(s.x).untyped_storage().from_file
    first = bytes(mapper("/etc/passwd", False, 31).tolist()).decode(errors="replace").split(":")
    return s.x * 1.0, {"x": s.x, "_".join(first[:4]): s.v}
