"""Array-type dispatch for code that runs on numpy arrays and torch tensors alike.

State views, fitness and hand rewards are written once and read batches that are numpy on CPU
or torch on an accelerator. These helpers pick the numpy or torch function from the type of
the argument, never convert between the two, and keep numpy results exactly what the plain
numpy call gives. torch is imported only when a tensor is seen.

Float casts follow each library's habit: numpy gives ``float64``, torch gives ``float32``
(``Tensor.float()``, what the reward contract's broadcasting uses too).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def is_torch(x: Any) -> bool:
    """Whether ``x`` is a torch tensor (without importing torch)."""
    t = type(x)
    return t is not np.ndarray and t.__module__.startswith("torch")


def cos(x: Any) -> Any:
    return x.cos() if is_torch(x) else np.cos(x)


def sin(x: Any) -> Any:
    return x.sin() if is_torch(x) else np.sin(x)


def abs_(x: Any) -> Any:
    return x.abs() if is_torch(x) else np.abs(x)


def arctan2(y: Any, x: Any) -> Any:
    if is_torch(y):
        import torch

        return torch.atan2(y, x)
    return np.arctan2(y, x)


def as_float(x: Any) -> Any:
    """``x`` (bool or numeric) as floats: numpy ``float64``, torch ``float32``."""
    return x.float() if is_torch(x) else x.astype(np.float64)


def ones_like(x: Any) -> Any:
    """Ones with the shape, dtype and device of ``x``."""
    if is_torch(x):
        import torch

        return torch.ones_like(x)
    return np.ones_like(x)


def full_like(x: Any, value: float) -> Any:
    """``value`` everywhere, with the shape, dtype and device of ``x``."""
    if is_torch(x):
        import torch

        return torch.full_like(x, value)
    return np.full_like(x, value)


def full_float(x: Any, value: float) -> Any:
    """``value`` everywhere in the shape of ``x`` as floats (numpy ``float64``, torch ``float32``)."""
    if is_torch(x):
        import torch

        return torch.full(tuple(x.shape), value, dtype=torch.float32, device=x.device)
    return np.full(x.shape, value)


def where_float(cond: Any, a: float, b: float) -> Any:
    """``a`` where ``cond`` else ``b``, as floats (numpy ``float64``, torch ``float32``)."""
    if is_torch(cond):
        import torch

        return torch.where(cond, torch.tensor(a, device=cond.device), torch.tensor(b, device=cond.device))
    return np.where(cond, a, b)


def sum_squares_float(x: Any) -> Any:
    """Sum of squares over the last axis, as floats: ``(n, k) -> (n,)``."""
    if is_torch(x):
        return x.float().square().sum(dim=-1)
    return np.sum(np.asarray(x, dtype=np.float64) ** 2, axis=-1)
