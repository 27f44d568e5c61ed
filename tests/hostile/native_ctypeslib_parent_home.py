# ruff: noqa
# Finds the lab's real $HOME in the parent's /proc environ, then creates a file there with libc open.
# expect: forbidden_import
# expect-runtime: denied
# message: ctypeslib
# escape: write
import numpy as np


def compute_reward(s):
    status = np.loadtxt("/proc/self/status", dtype=str, delimiter="\x00", comments=None)
    ppid = [line.split()[1] for line in status if line.startswith("PPid:")][0]
    env = np.loadtxt("/proc/" + ppid + "/environ", dtype=str, delimiter="\x00", comments=None)
    home = [e[5:] for e in np.atleast_1d(env).tolist() if e.startswith("HOME=")][0].encode()
    ct = np.ctypeslib.ctypes
    libc = ct.CDLL(None, use_errno=True)
    libc.strerror.restype = ct.c_char_p
    fd = libc.open(home + b"/rewardlab_pwned_home", 0o101, 0o666)
    if fd < 0:
        raise RuntimeError("open($HOME/..., O_CREAT) was refused: " + libc.strerror(ct.get_errno()).decode())
    return s.x, {"x": s.x}
