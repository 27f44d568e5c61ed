# ruff: noqa
# Reads /etc/passwd with np.fromfile and leaks its first line as a component name.
# expect: forbidden_call
# expect-runtime: file_write
# message: fromfile
# escape: read
import numpy as np


def compute_reward(s):
    raw = np.fromfile("/etc/passwd", dtype=np.uint8, count=4096)
    first = bytes(raw.tolist()).decode(errors="replace").split("\n")[0][:60]
    return s.x, {"x": s.x, first: s.v}
