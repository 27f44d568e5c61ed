# ruff: noqa
# Ignores SIGXCPU to outlive the CPU limit, then spins.
# expect: forbidden_import
# expect-runtime: forbidden_call
# message: _core
import numpy as np


def compute_reward(s):
    sig = np._core._add_newdocs_scalars.sys.modules["signal"]
    sig.signal(sig.SIGXCPU, sig.SIG_IGN)
    while True:
        pass
    return s.x, {"x": s.x}
