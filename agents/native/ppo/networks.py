"""``ppo-native``'s policy: separate tanh actor and critic MLPs, orthogonal init (CleanRL's ``layer_init``),
optionally each behind its own small CNN over an image part of the observation (:class:`ImageEncoder`)."""

from __future__ import annotations

import math

import torch
import torch.nn as nn


def layer_init(layer: nn.Linear, std: float = math.sqrt(2), bias: float = 0.0) -> nn.Linear:
    """Orthogonal weights with gain ``std``, constant bias (CleanRL's ``layer_init``; detail 2)."""
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias)
    return layer


def mlp(d_in: int, hidden: tuple[int, ...], d_out: int, out_std: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [layer_init(nn.Linear(d_in, h)), nn.Tanh()]
        d_in = h
    layers.append(layer_init(nn.Linear(d_in, d_out), std=out_std))
    return nn.Sequential(*layers)


class ImageEncoder(nn.Module):
    """The first ``W*H*C`` features of a flat observation as an image laid out ``[x, y, channel]`` (how the lab's
    MiniGrid tasks flatten the egocentric view), through the MiniGrid PPO network of rl-starter-files: 2x2 conv to
    16 channels, 2x2 max-pool, 2x2 conv to 32, 2x2 conv to 64, ReLU after each conv; the remaining features are
    appended to the CNN's output unchanged."""

    def __init__(self, shape: tuple[int, int, int], obs_dim: int) -> None:
        super().__init__()
        w, h, c = shape
        if w * h * c > obs_dim:
            raise ValueError(f"encoder image {w}x{h}x{c} needs {w * h * c} features, the observation has {obs_dim}")
        if min(w, h) < 5:
            raise ValueError(f"encoder image {w}x{h}x{c}: the CNN needs at least 5x5")
        self.shape, self.n_image = shape, w * h * c
        self.conv = nn.Sequential(
            nn.Conv2d(c, 16, 2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 2), nn.ReLU(),
            nn.Conv2d(32, 64, 2), nn.ReLU(),
            nn.Flatten(),
        )  # fmt: skip
        with torch.no_grad():
            n_conv = self.conv(torch.zeros(1, c, w, h)).shape[1]
        self.out_dim = n_conv + obs_dim - self.n_image

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        w, h, c = self.shape
        image = obs[:, : self.n_image].reshape(-1, w, h, c).permute(0, 3, 1, 2)
        return torch.cat([self.conv(image), obs[:, self.n_image :]], dim=-1)


def head(obs_dim: int, hidden: tuple[int, ...], d_out: int, out_std: float, image: tuple[int, int, int] | None):
    """An MLP over the observation, behind an :class:`ImageEncoder` when ``image`` is given."""
    if image is None:
        return mlp(obs_dim, hidden, d_out, out_std)
    enc = ImageEncoder(image, obs_dim)
    return nn.Sequential(enc, mlp(enc.out_dim, hidden, d_out, out_std))


class ActorCritic(nn.Module):
    """Separate actor and critic MLPs over flat (normalised) observations ``(B, obs_dim)``, each behind its own
    :class:`ImageEncoder` when ``image`` (``W, H, C``) is given.

    Discrete: ``actor(obs)`` are logits ``(B, n_actions)``. Box: the Gaussian mean ``(B, act_dim)``, with
    ``log_std`` a state-independent parameter ``(act_dim,)``.
    """

    def __init__(
        self,
        obs_dim: int,
        n_out: int,
        hidden: tuple[int, ...],
        discrete: bool,
        log_std_init: float,
        image: tuple[int, int, int] | None = None,
    ):
        super().__init__()
        self.discrete = discrete
        self.actor = head(obs_dim, hidden, n_out, 0.01, image)
        self.critic = head(obs_dim, hidden, 1, 1.0, image)
        self.log_std = nn.Parameter(torch.full((n_out,), float(log_std_init))) if not discrete else None

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)

    def sample(self, obs: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """An action ``(B,)`` (Discrete, int64) or ``(B, A)`` (Box, unclipped) and its log-probability ``(B,)``.

        Categorical sampling by the Gumbel-max trick; both avoid ``torch.distributions``' per-call checks.
        """
        out = self.actor(obs)
        if self.discrete:
            u = torch.rand(out.shape, device=out.device, generator=gen).clamp_(1e-20, 1.0)
            a = (out - torch.log(-torch.log(u))).argmax(-1)
            logp = torch.log_softmax(out, -1).gather(-1, a.unsqueeze(-1)).squeeze(-1)
            return a, logp
        assert self.log_std is not None
        eps = torch.randn(out.shape, device=out.device, generator=gen)
        a = out + self.log_std.exp() * eps
        logp = (-0.5 * eps.pow(2) - self.log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        return a, logp

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        out = self.actor(obs)
        return out.argmax(-1) if self.discrete else out

    def evaluate(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Log-probability ``(B,)``, entropy ``(B,)`` and value ``(B,)`` of stored actions under the current net."""
        out = self.actor(obs)
        if self.discrete:
            logp_all = torch.log_softmax(out, -1)
            logp = logp_all.gather(-1, action.long().unsqueeze(-1)).squeeze(-1)
            entropy = -(logp_all.exp() * logp_all).sum(-1)
        else:
            assert self.log_std is not None
            z = (action - out) * torch.exp(-self.log_std)
            logp = (-0.5 * z.pow(2) - self.log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
            entropy = (0.5 + 0.5 * math.log(2 * math.pi) + self.log_std).sum(-1).expand(out.shape[0])
        return logp, entropy, self.value(obs)
