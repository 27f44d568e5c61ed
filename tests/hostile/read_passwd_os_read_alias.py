# ruff: noqa
# Reaches os through numpy internals and reads /etc/passwd with os.open/os.read (reads pass the guards).
# expect: forbidden_import
# expect-runtime: denied
# message: _core
# escape: read
import numpy as np


def compute_reward(s):
    o = np._core._add_newdocs_scalars.os
    fd = o.open("/etc/passwd", o.O_RDONLY)
    first = o.read(fd, 4096).split(b"\n")[0].decode()[:60]
    return s.x, {"x": s.x, first: s.v}
