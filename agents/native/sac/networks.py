"""``sac-native``'s networks: the tanh-squashed Gaussian actor and the twin Q critics held as one ensemble."""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Actor(nn.Module):
    """``s -> (mu, log_std)`` of the pre-squash Gaussian; actions live in ``[-1, 1]^A``."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.trunk = _mlp([obs_dim, *hidden])
        self.trunk.append(nn.ReLU())
        self.head = nn.Linear(hidden[-1], 2 * act_dim)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(obs)
        with torch.autocast(obs.device.type, enabled=False):  # the Gaussian's parameters in full precision
            mu, log_std = self.head(h.float()).chunk(2, dim=-1)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(log_std) + 1.0)  # CleanRL's bound
        return mu, log_std

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised action ``tanh(u)`` ``(B, A)`` and its log-probability ``(B,)``."""
        mu, log_std = self(obs)
        eps = torch.randn_like(mu)
        u = mu + log_std.exp() * eps
        # log N(u; mu, sigma) - log|d tanh(u)/du|, with log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))
        logp = (-0.5 * eps.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        logp = logp - (2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))).sum(-1)
        return torch.tanh(u), logp


class EnsembleLinear(nn.Module):
    """``E`` independent linear layers applied in one batched matmul: ``(E, B, in) -> (E, B, out)``."""

    def __init__(self, ensemble: int, d_in: int, d_out: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(d_in)  # nn.Linear's default init, per member
        self.weight = nn.Parameter(torch.empty(ensemble, d_in, d_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(ensemble, 1, d_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class TwinQ(nn.Module):
    """Both critics at once: ``(s, a) -> Q (2, B)``."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...], ensemble: int = 2) -> None:
        super().__init__()
        sizes = [obs_dim + act_dim, *hidden, 1]
        self.layers = nn.ModuleList(EnsembleLinear(ensemble, sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1))
        self.ensemble = ensemble

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs, act], -1).expand(self.ensemble, -1, -1)
        for layer in self.layers[:-1]:
            x = F.relu(layer(x))
        with torch.autocast(x.device.type, enabled=False):  # Q values in full precision
            return self.layers[-1](x.float()).squeeze(-1)
