# ruff: noqa
# Unpacks np.fromfile into a name and reads the raw bytes of /etc/passwd with it.
# expect: forbidden_call
# message: read is numpy.fromfile (read, scale = np.fromfile, 1.0, line 9)
import numpy as np


def compute_reward(s):
    read, scale = np.fromfile, 1.0
    raw = read("/etc/passwd", dtype=np.uint8)
    return s.x * scale + 0.0 * float(raw.sum()), {"x": s.x}
