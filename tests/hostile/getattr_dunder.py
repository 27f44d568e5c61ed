# ruff: noqa
# getattr with a dunder name built at run time.
# expect: forbidden_call
# expect-runtime: dunder_access
# message: computed name
import numpy as np


def compute_reward(s):
    name = "__" + "class" + "__"
    cls = getattr(s, name)
    return s.x, {"cls": s.x * 0 + len(cls.__name__)}
