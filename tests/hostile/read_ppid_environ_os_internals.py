# ruff: noqa
# Reaches os through numpy internals, calls os.getppid and os.read on /proc/<ppid>/environ, leaks it as names.
# expect: forbidden_import
# expect-runtime: denied
# message: _core
# escape: read
import numpy as np


def compute_reward(s):
    o = np._core._add_newdocs_scalars.os
    fd = o.open("/proc/%d/environ" % o.getppid(), o.O_RDONLY)
    env = o.read(fd, 65536).split(b"\x00")
    comps = {"x": s.x}
    for i, e in enumerate(env[:20]):
        comps[e.decode(errors="replace")[:60] or "empty%d" % i] = s.v
    return s.x, comps
