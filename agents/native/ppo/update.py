"""``ppo-native``'s update: the clipped surrogate loss on a minibatch and the epochs of minibatches over a rollout.

Huang et al.'s details (ICLR blog track 2022): clipped surrogate ``-min(ratio A, clip(ratio, 1-eps, 1+eps) A)``
(detail 8), advantages normalised per minibatch (detail 7), optionally clipped value loss (detail 9), entropy
bonus (detail 10), global grad-norm clipping (detail 11), early stop of the epochs when the approximate KL
``E[(r - 1) - log r]`` exceeds ``target_kl``.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from agents.native.ppo.config import PPOConfig
from agents.native.ppo.networks import ActorCritic

STATS = ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac")


def ppo_loss(
    net: ActorCritic, spec: PPOConfig, obs: torch.Tensor, act: torch.Tensor, logp_old: torch.Tensor,
    adv: torch.Tensor, ret: torch.Tensor, v_old: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """PPO's loss on one minibatch: total, policy, value, entropy, approx KL, clip fraction."""
    logp, entropy, v = net.evaluate(obs, act)
    logratio = logp - logp_old
    ratio = logratio.exp()
    with torch.no_grad():
        approx_kl = ((ratio - 1.0) - logratio).mean()  # Schulman's k3 estimator of KL(old || new)
        clipfrac = ((ratio - 1.0).abs() > spec.clip_coef).float().mean()
    if spec.norm_adv:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    pg_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1.0 - spec.clip_coef, 1.0 + spec.clip_coef)).mean()
    if spec.clip_vloss:
        v_clipped = v_old + (v - v_old).clamp(-spec.clip_coef, spec.clip_coef)
        v_loss = 0.5 * torch.max((v - ret).pow(2), (v_clipped - ret).pow(2)).mean()
    else:
        v_loss = 0.5 * (v - ret).pow(2).mean()
    ent = entropy.mean()
    loss = pg_loss - spec.ent_coef * ent + spec.vf_coef * v_loss
    return loss, pg_loss.detach(), v_loss.detach(), ent.detach(), approx_kl, clipfrac


def ppo_update(
    net: ActorCritic, opt: torch.optim.Optimizer, spec: PPOConfig, b: dict[str, torch.Tensor], lr: float,
    gen: torch.Generator,
) -> dict[str, float]:  # fmt: skip
    """``n_epochs`` passes of shuffled minibatches over the flattened rollout ``b`` (each ``(T*n, ...)``).

    Returns the minibatch means of :data:`STATS` and the learning rate used.
    """
    for g in opt.param_groups:
        g["lr"] = lr
    N = b["obs"].shape[0]
    mb = N // spec.n_minibatches
    params = list(net.parameters())
    stats: list[torch.Tensor] = []
    for _epoch in range(spec.n_epochs):
        perm = torch.randperm(N, device=gen.device, generator=gen)
        for i in range(spec.n_minibatches):
            idx = perm[i * mb : (i + 1) * mb]
            loss, *parts = ppo_loss(
                net, spec, b["obs"][idx], b["actions"][idx], b["logprobs"][idx], b["advantages"][idx],
                b["returns"][idx], b["values"][idx],
            )  # fmt: skip
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(params, spec.max_grad_norm, foreach=True)
            opt.step()
            stats.append(torch.stack(parts))
        if spec.target_kl is not None and float(stats[-1][3]) > spec.target_kl:
            break
    s = torch.stack(stats).mean(0).tolist()
    out = dict(zip(STATS, s, strict=True))
    out["learning_rate"] = lr
    return out
