# ruff: noqa
# Picks a module at run time (array-API style); harmless here, but a module held in a name gets past
# every check on its attributes, so any module used as a value is refused.
# expect: forbidden_import
# message: module 'np' used as a value
import numpy as np
import torch


def compute_reward(s):
    xp = torch if isinstance(s.x, torch.Tensor) else np
    return xp.abs(s.x), {"x": s.x}
