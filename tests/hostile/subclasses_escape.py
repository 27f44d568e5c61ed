# ruff: noqa
# The classic escape: walk object's subclasses to a class whose globals hold os.system.
# expect: dunder_access
# expect-runtime: fork_attempt
# message: __subclasses__
import numpy as np


def compute_reward(s):
    for cls in ().__class__.__bases__[0].__subclasses__():
        if cls.__name__ == "_wrap_close":
            cls.__init__.__globals__["system"]("touch @SENTINEL@/pwned_escape")
    return s.x, {"x": s.x}
