# ruff: noqa
# Finds the parent pid in /proc/self/status, reads /proc/<ppid>/environ and raises it in the message.
# expect: forbidden_call
# expect-runtime: denied
# message: loadtxt
# escape: read
import numpy as np


def compute_reward(s):
    status = np.loadtxt("/proc/self/status", dtype=str, delimiter="\x00", comments=None)
    ppid = [line.split()[1] for line in status if line.startswith("PPid:")][0]
    env = np.loadtxt("/proc/" + ppid + "/environ", dtype=str, delimiter="\x00", comments=None)
    raise RuntimeError("parent environment: " + " ".join(np.atleast_1d(env).tolist())[:280])
