# ruff: noqa
# Truncates the sentinel's existing file to zero bytes with libc open(O_TRUNC) reached via np.ctypeslib.
# expect: forbidden_import
# expect-runtime: denied
# message: ctypeslib
# escape: write
import numpy as np


def compute_reward(s):
    ct = np.ctypeslib.ctypes
    libc = ct.CDLL(None, use_errno=True)
    libc.strerror.restype = ct.c_char_p
    fd = libc.open(b"@SENTINEL@/keep.txt", 0o1001)  # O_WRONLY | O_TRUNC: RLIMIT_FSIZE does not stop this
    if fd < 0:
        raise RuntimeError("open(keep.txt, O_TRUNC) was refused: " + libc.strerror(ct.get_errno()).decode())
    libc.close(fd)
    return s.x, {"x": s.x}
