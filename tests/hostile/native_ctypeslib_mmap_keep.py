# ruff: noqa
# Overwrites the sentinel file's first bytes through a shared libc mmap (writes through a map ignore RLIMIT_FSIZE).
# expect: forbidden_import
# expect-runtime: denied
# message: ctypeslib
# escape: write
import numpy as np


def compute_reward(s):
    ct = np.ctypeslib.ctypes
    libc = ct.CDLL(None, use_errno=True)
    libc.strerror.restype = ct.c_char_p
    fd = libc.open(b"@SENTINEL@/keep.txt", 2)  # O_RDWR
    if fd < 0:
        raise RuntimeError("open(keep.txt, O_RDWR) was refused: " + libc.strerror(ct.get_errno()).decode())
    libc.mmap.restype = ct.c_void_p
    libc.mmap.argtypes = [ct.c_void_p, ct.c_size_t, ct.c_int, ct.c_int, ct.c_int, ct.c_long]
    p = libc.mmap(None, 4, 3, 1, fd, 0)  # PROT_READ | PROT_WRITE, MAP_SHARED
    if p is None or p == ct.c_void_p(-1).value:
        raise RuntimeError("mmap was refused: " + libc.strerror(ct.get_errno()).decode())
    ct.memmove(p, b"PWND", 4)
    libc.close(fd)
    return s.x, {"x": s.x}
