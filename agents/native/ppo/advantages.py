"""``ppo-native``'s returns: GAE(lambda) over a rollout, and rewards scaled by the running discounted-return std.

GAE (Schulman et al. 2016; Huang et al.'s detail 5) runs over the rewards the lab's hooks leave in the rollout;
a truncated step's reward already carries its bootstrap ``gamma * V(true final obs)``. The reward scaling is
SB3's VecNormalize / gymnasium's NormalizeReward (continuous details 6-7).
"""

from __future__ import annotations

import torch

from agents.native.running import RunningMeanStd


@torch.no_grad()
def scale_rewards(
    r: torch.Tensor, done: torch.Tensor, ret: torch.Tensor, ret_rms: RunningMeanStd, gamma: float, clip: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``r / std(discounted return)``, clipped (SB3 VecNormalize): ``R_t = gamma R_{t-1} + r_t``, 0 after done.

    ``r``, ``done``: ``(T, n)``; ``ret``: the running returns ``(n,)`` the last rollout left. Updates ``ret_rms``
    with all ``T*n`` returns; returns the scaled rewards and the running returns to carry into the next rollout.
    """
    rets = torch.empty_like(r, dtype=torch.float64)
    R = ret
    for t in range(r.shape[0]):
        R = R * gamma + r[t]
        rets[t] = R
        R = R * (1.0 - done[t])
    ret_rms.update(rets)
    return (r / torch.sqrt(ret_rms.var + 1e-8)).clamp(-clip, clip), R


@torch.no_grad()
def gae(
    rewards: torch.Tensor, values: torch.Tensor, last_value: torch.Tensor, dones: torch.Tensor, gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """GAE(lambda) over ``(T, n)``: ``delta_t = r_t + gamma V_{t+1} (1 - d_t) - V_t``,
    ``A_t = delta_t + gamma lambda (1 - d_t) A_{t+1}``; returns ``A`` and ``A + V``.

    ``d_t`` is the done flag of step ``t`` itself (SAME_STEP autoreset: ``V_{t+1}`` of a done step would be the
    next episode's first state); truncated steps carry their bootstrap in ``r_t`` already.
    """
    T = rewards.shape[0]
    adv = torch.zeros_like(rewards)
    last = torch.zeros_like(last_value)
    nonterminal = 1.0 - dones
    for t in reversed(range(T)):
        next_v = last_value if t == T - 1 else values[t + 1]
        delta = rewards[t] + gamma * next_v * nonterminal[t] - values[t]
        last = delta + gamma * lam * nonterminal[t] * last
        adv[t] = last
    return adv, adv + values
