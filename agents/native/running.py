"""Running statistics of the native agents: mean and variance over a batch axis, and the clipped normaliser.

PPO normalises observations and scales rewards by the running std of the discounted return; SAC normalises
observations. Both keep the statistics as float64 buffers on the agent's device, so they are saved with the
agent's ``state_dict`` (keys ``mean``, ``var``, ``count``).
"""

from __future__ import annotations

import torch
import torch.nn as nn


class RunningMeanStd(nn.Module):
    """Running mean/variance over a batch axis (Chan et al.'s parallel update, as SB3's ``RunningMeanStd``).

    Buffers are float64 on the module's device; ``count`` starts at ``count`` (1e-4 as in SB3/gymnasium).
    """

    def __init__(self, shape: tuple[int, ...] = (), count: float = 1e-4) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(shape, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(count, dtype=torch.float64))
        self._n = float(count)  # ``count`` as a Python float: the update's weights without a device sync
        self.register_load_state_dict_post_hook(lambda m, _keys: setattr(m, "_n", float(m.count)))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Chan et al.'s merge of the batch's mean and (biased) variance: ``var' = (n var + k v + delta^2 n k /
        (n + k)) / (n + k)``, in place, four tensor ops besides the batch's ``var_mean``."""
        x = x.reshape(-1, *self.mean.shape).double()
        k = x.shape[0]
        v, m = torch.var_mean(x, 0, correction=0)
        n = self._n
        total = n + k
        delta = m - self.mean
        self.var.mul_(n / total).add_(v, alpha=k / total).add_(delta.square(), alpha=n * k / total**2)
        self.mean.add_(delta, alpha=k / total)
        self._n = total
        self.count.fill_(total)

    def normalize(self, x: torch.Tensor, clip: float, eps: float = 1e-8) -> torch.Tensor:
        """``(x - mean) / sqrt(var + eps)`` in ``x``'s dtype, clipped to ``+-clip``."""
        z = (x - self.mean.to(x.dtype)) * torch.rsqrt(self.var.to(x.dtype) + eps)
        return z.clamp(-clip, clip)


class RunningNorm(RunningMeanStd):
    """Running mean/variance of observations ``(B, dim)``, applied as ``(x - mean) / std`` clipped to ``+-clip``."""

    def __init__(self, dim: int, clip: float, eps: float = 1e-8) -> None:
        super().__init__((dim,), count=eps)
        self.clip, self.eps = float(clip), eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.normalize(x, self.clip, self.eps)
