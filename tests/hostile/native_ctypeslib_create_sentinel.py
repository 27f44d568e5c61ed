# ruff: noqa
# Creates a new file in the sentinel dir with libc open(O_CREAT) via np.ctypeslib.
# expect: forbidden_import
# expect-runtime: denied
# message: ctypeslib
# escape: write
import numpy as np


def compute_reward(s):
    ct = np.ctypeslib.ctypes
    libc = ct.CDLL(None, use_errno=True)
    libc.strerror.restype = ct.c_char_p
    fd = libc.open(b"@SENTINEL@/pwned_ctypes", 0o101, 0o666)
    if fd < 0:
        raise RuntimeError("open(@SENTINEL@/pwned_ctypes, O_CREAT) was refused: " + libc.strerror(ct.get_errno()).decode())
    libc.close(fd)
    return s.x, {"x": s.x}
