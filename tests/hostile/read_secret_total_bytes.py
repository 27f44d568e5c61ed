# ruff: noqa
# Reads secret.txt and packs its bytes into floats (6 bytes per value) in the total and in components.
# expect: forbidden_call
# expect-runtime: exception
# message: loadtxt
# escape: read
import numpy as np


def compute_reward(s):
    raw = list(str(np.loadtxt("@SENTINEL@/secret.txt", dtype=str, delimiter="\x00", comments=None)).encode())
    packed = [float(int.from_bytes(bytes(raw[i : i + 6]), "big")) for i in range(0, len(raw), 6)]
    n = np.shape(s.x)[0]
    idx = np.arange(n)
    total = np.asarray(s.x, dtype=np.float64) * 1.0
    total = np.where(idx == 0, max(packed), total)
    total = np.where(idx == n - 1, min(packed), total) if n > 1 else total
    comps = {"x": s.x, "bytes": np.resize(np.array(raw, dtype=np.float64), n)}
    for i, v in enumerate(packed):
        comps["p%d" % i] = np.full(n, v)
    return total, comps
