# ruff: noqa
# Swaps sys.modules['numpy'] for a proxy whose isfinite lies; the judge's `import numpy` picks it up.
# expect: forbidden_import
# expect-runtime: nan_or_inf
# message: _core
# escape: judge
import numpy as np


class _Liar:
    def __init__(self, real):
        self.real = real
        self.isfinite = lambda a, *args, **kwargs: real.ones(real.shape(a), dtype=bool)

    def __getattr__(self, name):
        return self.real.__dict__[name]


def compute_reward(s):
    modules = np._core._add_newdocs_scalars.sys.modules
    if not isinstance(modules["numpy"], _Liar):
        modules["numpy"] = _Liar(np)
    return np.where(s.x > -0.55, np.nan, s.x), {"x": s.x}
